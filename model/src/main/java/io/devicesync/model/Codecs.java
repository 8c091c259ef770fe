package io.devicesync.model;

import com.fasterxml.jackson.databind.JsonNode;

/** The contract's JSON for what the job publishes. */
public final class Codecs {
    private Codecs() {}

    public static byte[] deviceState(DeviceState s) {
        return Json.write(g -> {
            g.writeStartObject();
            writeDeviceStateFields(g, s);
            g.writeEndObject();
        });
    }

    private static void writeDeviceStateFields(com.fasterxml.jackson.core.JsonGenerator g, DeviceState s) throws java.io.IOException {
        g.writeStringField("deviceId", s.deviceId);
        g.writeNumberField("epoch", s.epoch);
        g.writeNumberField("seq", s.seq);
        g.writeNumberField("ts", s.ts);
        g.writeFieldName("state");
        Json.writeRaw(g, s.state);
        g.writeStringField("source", s.source);
    }

    /** A device-state record plus {@code "redispatch":{"consumer":…,"attempt":…}}. */
    public static byte[] redispatch(Redispatch r) {
        return Json.write(g -> {
            g.writeStartObject();
            writeDeviceStateFields(g, r.state);
            g.writeObjectFieldStart("redispatch");
            g.writeStringField("consumer", r.consumer);
            g.writeNumberField("attempt", r.attempt);
            g.writeEndObject();
            g.writeEndObject();
        });
    }

    /** Reads a redispatch record back (tests, tools). */
    public static Redispatch readRedispatch(byte[] json) {
        JsonNode n = Json.parse(json);
        JsonNode r = n.get("redispatch");
        return new Redispatch(deviceState(n), r.get("consumer").asText(), r.get("attempt").asInt());
    }

    public static byte[] alert(Alert a) {
        return Json.write(g -> {
            g.writeStartObject();
            g.writeStringField("alertId", a.alertId);
            g.writeStringField("type", a.type);
            g.writeStringField("severity", a.severity);
            g.writeStringField("deviceId", a.deviceId);
            g.writeStringField("consumer", a.consumer);
            g.writeStringField("cause", a.cause);
            g.writeStringField("strategy", a.strategy);
            g.writeFieldName("details");
            g.writeRawValue(a.details == null ? "{}" : a.details);
            g.writeNumberField("ts", a.ts);
            g.writeEndObject();
        });
    }

    public static byte[] audit(AuditRecord a) {
        return Json.write(g -> {
            g.writeStartObject();
            g.writeStringField("deviceId", a.deviceId);
            writeVersion(g, "epoch", a.epoch);
            writeVersion(g, "seq", a.seq);
            writeVersion(g, "dbEpoch", a.dbEpoch);
            writeVersion(g, "dbSeq", a.dbSeq);
            g.writeStringField("outcome", a.outcome.name());
            g.writeNumberField("ts", a.ts);
            g.writeEndObject();
        });
    }

    private static void writeVersion(com.fasterxml.jackson.core.JsonGenerator g, String name, long v) throws java.io.IOException {
        if (v < 0) g.writeNullField(name);
        else g.writeNumberField(name, v);
    }

    /** Reads an audit record back; null for anything that is not one (the job reads its own topic). */
    public static AuditRecord readAudit(byte[] json) {
        try {
            JsonNode n = Json.MAPPER.readTree(json);
            if (n == null || !n.isObject() || !n.path("deviceId").isTextual() || !n.path("outcome").isTextual()) return null;
            return new AuditRecord(n.get("deviceId").asText(), n.path("epoch").asLong(-1), n.path("seq").asLong(-1),
                    n.path("dbEpoch").asLong(-1), n.path("dbSeq").asLong(-1), AuditRecord.Outcome.valueOf(n.get("outcome").asText()),
                    n.path("ts").asLong());
        } catch (java.io.IOException | RuntimeException e) {
            return null;
        }
    }

    /** Reads a published device-state record back (tests, tools). */
    public static DeviceState readDeviceState(byte[] json) {
        return deviceState(Json.parse(json));
    }

    private static DeviceState deviceState(JsonNode n) {
        return new DeviceState(n.get("deviceId").asText(), n.get("epoch").asLong(), n.get("seq").asLong(),
                n.get("ts").asLong(), Json.bytes(n.get("state")), n.get("source").asText());
    }

    /** Reads a published alert back (tests, tools). */
    public static Alert readAlert(byte[] json) {
        JsonNode n = Json.parse(json);
        Alert a = new Alert();
        a.alertId = n.get("alertId").asText();
        a.type = n.get("type").asText();
        a.severity = n.get("severity").asText();
        a.deviceId = n.get("deviceId").isNull() ? null : n.get("deviceId").asText();
        a.consumer = n.get("consumer").isNull() ? null : n.get("consumer").asText();
        a.cause = n.get("cause").asText();
        a.strategy = n.get("strategy").asText();
        a.details = n.get("details").toString();
        a.ts = n.get("ts").asLong();
        return a;
    }
}
