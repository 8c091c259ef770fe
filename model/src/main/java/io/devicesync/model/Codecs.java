package io.devicesync.model;

import com.fasterxml.jackson.databind.JsonNode;

/** The contract's JSON for what the job publishes. */
public final class Codecs {
    private Codecs() {}

    /** Written byte by byte (this is every published version): the document is copied as it is. */
    public static byte[] deviceState(DeviceState s) {
        RawJson.Out out = new RawJson.Out(sizeHint(s) + 96);
        writeDeviceStateFields(out, s);
        out.put((byte) '}');
        return out.toArray();
    }

    private static int sizeHint(DeviceState s) {
        return (s.state == null ? 4 : s.state.length) + (s.deviceId == null ? 4 : s.deviceId.length());
    }

    /** {@code {"deviceId":…,"epoch":…,"seq":…,"ts":…,"state":…,"source":…}} without the closing brace. */
    private static void writeDeviceStateFields(RawJson.Out out, DeviceState s) {
        ascii(out, "{\"deviceId\":");
        string(out, s.deviceId);
        ascii(out, ",\"epoch\":");
        ascii(out, Long.toString(s.epoch));
        ascii(out, ",\"seq\":");
        ascii(out, Long.toString(s.seq));
        ascii(out, ",\"ts\":");
        ascii(out, Long.toString(s.ts));
        ascii(out, ",\"state\":");
        if (s.state == null) ascii(out, "null");
        else out.put(s.state, 0, s.state.length);
        ascii(out, ",\"source\":");
        string(out, s.source);
    }

    private static void ascii(RawJson.Out out, String s) {
        for (int i = 0; i < s.length(); i++) out.put((byte) s.charAt(i));
    }

    /** A JSON string, escaped as Jackson's generator escapes it. */
    private static void string(RawJson.Out out, String s) {
        if (s == null) {
            ascii(out, "null");
            return;
        }
        int plain = 0; // printable ASCII other than '"' and '\\' needs no escape: copied as it is
        while (plain < s.length()) {
            char c = s.charAt(plain);
            if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') break;
            plain++;
        }
        if (plain == s.length()) {
            out.reserve(s.length() + 2);
            out.b[out.n++] = '"';
            for (int i = 0; i < s.length(); i++) out.b[out.n++] = (byte) s.charAt(i);
            out.b[out.n++] = '"';
            return;
        }
        byte[] quoted = Json.write(g -> g.writeString(s)); // rare: the generator's own escapes
        out.put(quoted, 0, quoted.length);
    }

    /** A device-state record plus {@code "redispatch":{"consumer":…,"attempt":…}}. */
    public static byte[] redispatch(Redispatch r) {
        RawJson.Out out = new RawJson.Out(sizeHint(r.state) + 160);
        writeDeviceStateFields(out, r.state);
        ascii(out, ",\"redispatch\":{\"consumer\":");
        string(out, r.consumer);
        ascii(out, ",\"attempt\":");
        ascii(out, Integer.toString(r.attempt));
        ascii(out, "}}");
        return out.toArray();
    }

    /** Reads a redispatch record back (tests, tools). */
    public static Redispatch readRedispatch(byte[] json) {
        JsonNode n = Json.parse(json);
        JsonNode r = n.get("redispatch");
        return new Redispatch(
                deviceState(n), r.get("consumer").asText(), r.get("attempt").asInt());
    }

    public static byte[] alert(Alert a) {
        return Json.write(g -> {
            g.writeStartObject();
            g.writeStringField("alertId", a.alertId);
            g.writeStringField("type", a.type.name());
            g.writeStringField("severity", a.severity.name());
            g.writeStringField("deviceId", a.deviceId);
            g.writeStringField("consumer", a.consumer);
            g.writeStringField("cause", a.cause);
            g.writeStringField("strategy", a.strategy.name());
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
            writeVersion(g, "epoch", a.published == null ? -1 : a.published.epoch);
            writeVersion(g, "seq", a.published == null ? -1 : a.published.seq);
            writeVersion(g, "dbEpoch", a.db == null ? -1 : a.db.epoch);
            writeVersion(g, "dbSeq", a.db == null ? -1 : a.db.seq);
            g.writeStringField("outcome", a.outcome.name());
            g.writeNumberField("ts", a.ts);
            g.writeEndObject();
        });
    }

    private static void writeVersion(com.fasterxml.jackson.core.JsonGenerator g, String name, long v)
            throws java.io.IOException {
        if (v < 0) g.writeNullField(name);
        else g.writeNumberField(name, v);
    }

    /** A version of two number fields; null when either is absent or null. */
    private static Version readVersion(JsonNode n, String epoch, String seq) {
        if (!n.path(epoch).isIntegralNumber() || !n.path(seq).isIntegralNumber()) return null;
        return new Version(n.get(epoch).asLong(), n.get(seq).asLong());
    }

    /** Reads an audit record back; null for anything that is not one (the job reads its own topic). */
    public static AuditRecord readAudit(byte[] json) {
        try {
            JsonNode n = Json.MAPPER.readTree(json);
            if (n == null
                    || !n.isObject()
                    || !n.path("deviceId").isTextual()
                    || !n.path("outcome").isTextual()) return null;
            return new AuditRecord(
                    n.get("deviceId").asText(),
                    readVersion(n, "epoch", "seq"),
                    readVersion(n, "dbEpoch", "dbSeq"),
                    AuditRecord.Outcome.valueOf(n.get("outcome").asText()),
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
        return new DeviceState(
                n.get("deviceId").asText(),
                n.get("epoch").asLong(),
                n.get("seq").asLong(),
                n.get("ts").asLong(),
                Json.bytes(n.get("state")),
                RecordSource.of(n.get("source").asText()));
    }

    /** Reads a published alert back (tests, tools). */
    public static Alert readAlert(byte[] json) {
        JsonNode n = Json.parse(json);
        Alert a = new Alert();
        a.alertId = n.get("alertId").asText();
        a.type = AlertType.valueOf(n.get("type").asText());
        a.severity = Severity.valueOf(n.get("severity").asText());
        a.deviceId = n.get("deviceId").isNull() ? null : n.get("deviceId").asText();
        a.consumer = n.get("consumer").isNull() ? null : n.get("consumer").asText();
        a.cause = n.get("cause").asText();
        a.strategy = Strategy.valueOf(n.get("strategy").asText());
        a.details = n.get("details").toString();
        a.ts = n.get("ts").asLong();
        return a;
    }
}
