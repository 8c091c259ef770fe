package io.devicesync.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Validates {@code device-acks} records against the contract (the same rules as increments:
 * UTF-8 JSON object, {@code consumer} a non-empty string of at most 128 characters, {@code deviceId},
 * integer {@code seq} >= 1, optional integer {@code epoch} >= 0, integer {@code ts}; the record key,
 * when present, equal to the deviceId) and writes acks as JSON.
 */
public final class AckCodec {
    private AckCodec() {}

    public static final int MAX_VALUE_BYTES = 16 * 1024;
    public static final int MAX_CONSUMER_LENGTH = 128;

    /** An ack, or the reason the record was rejected. */
    public static final class Parsed {
        public final Ack ack;
        public final String rejectReason;

        private Parsed(Ack ack, String rejectReason) {
            this.ack = ack;
            this.rejectReason = rejectReason;
        }

        public boolean isValid() {
            return ack != null;
        }
    }

    private static Parsed reject(String reason) {
        return new Parsed(null, reason);
    }

    /** Never throws: anything unforeseen is a rejection with {@link RejectReason#INTERNAL_ERROR}. */
    public static Parsed parse(byte[] key, byte[] value) {
        try {
            return parseUnchecked(key, value);
        } catch (RuntimeException | StackOverflowError e) {
            return reject(RejectReason.INTERNAL_ERROR);
        }
    }

    /** What one field held: absent, a string, an integer that fits a long, or anything else. */
    private enum Kind {
        ABSENT,
        STRING,
        LONG,
        OTHER
    }

    /**
     * One streaming pass, no tree: acks are read for every version every consumer confirms. The
     * whole record is read before any field is judged, so a malformed record is NOT_JSON whatever
     * its fields, as with a tree; a repeated field counts with its last value.
     */
    private static Parsed parseUnchecked(byte[] key, byte[] value) {
        if (value == null) return reject(RejectReason.NULL_VALUE);
        if (value.length > MAX_VALUE_BYTES) return reject(RejectReason.TOO_LARGE);
        if (!IncrementCodec.isUtf8(value)) return reject(RejectReason.NOT_UTF8);
        Kind consumerKind = Kind.ABSENT,
                idKind = Kind.ABSENT,
                seqKind = Kind.ABSENT,
                tsKind = Kind.ABSENT,
                epochKind = Kind.ABSENT;
        String consumer = null, deviceId = null;
        long seq = 0, ts = 0, epoch = 0;
        try (JsonParser p = Json.MAPPER.getFactory().createParser(value)) {
            JsonToken root = p.nextToken();
            if (root == null) return reject(RejectReason.NOT_JSON);
            if (root != JsonToken.START_OBJECT) {
                p.skipChildren();
                return reject(p.nextToken() == null ? RejectReason.NOT_OBJECT : RejectReason.NOT_JSON);
            }
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken v = p.nextToken();
                switch (field) {
                    case "consumer":
                        consumerKind = v == JsonToken.VALUE_STRING ? Kind.STRING : Kind.OTHER;
                        consumer = consumerKind == Kind.STRING ? p.getText() : null;
                        break;
                    case "deviceId":
                        idKind = v == JsonToken.VALUE_STRING ? Kind.STRING : Kind.OTHER;
                        deviceId = idKind == Kind.STRING ? p.getText() : null;
                        break;
                    case "seq":
                        seqKind = longKind(p, v);
                        if (seqKind == Kind.LONG) seq = p.getLongValue();
                        break;
                    case "ts":
                        tsKind = longKind(p, v);
                        if (tsKind == Kind.LONG) ts = p.getLongValue();
                        break;
                    case "epoch":
                        epochKind = longKind(p, v);
                        if (epochKind == Kind.LONG) epoch = p.getLongValue();
                        break;
                    default:
                        break;
                }
                p.skipChildren();
            }
            if (t != JsonToken.END_OBJECT || p.nextToken() != null) return reject(RejectReason.NOT_JSON);
        } catch (IOException e) {
            return reject(RejectReason.NOT_JSON);
        }
        if (consumerKind == Kind.ABSENT) return reject(RejectReason.MISSING_CONSUMER);
        if (consumerKind != Kind.STRING || consumer.isEmpty() || consumer.length() > MAX_CONSUMER_LENGTH) {
            return reject(RejectReason.INVALID_CONSUMER);
        }
        if (idKind == Kind.ABSENT) return reject(RejectReason.MISSING_DEVICE_ID);
        if (idKind != Kind.STRING || deviceId.isEmpty() || deviceId.length() > IncrementCodec.MAX_DEVICE_ID_LENGTH) {
            return reject(RejectReason.INVALID_DEVICE_ID);
        }
        if (seqKind == Kind.ABSENT) return reject(RejectReason.MISSING_SEQ);
        if (seqKind != Kind.LONG) return reject(RejectReason.MISTYPED_SEQ);
        if (seq < 1) return reject(RejectReason.SEQ_OUT_OF_RANGE);
        if (tsKind == Kind.ABSENT) return reject(RejectReason.MISSING_TS);
        if (tsKind != Kind.LONG) return reject(RejectReason.MISTYPED_TS);
        if (epochKind != Kind.ABSENT) {
            if (epochKind != Kind.LONG) return reject(RejectReason.MISTYPED_EPOCH);
            if (epoch < 0) return reject(RejectReason.EPOCH_OUT_OF_RANGE);
        }
        if (key != null && !Arrays.equals(key, deviceId.getBytes(StandardCharsets.UTF_8))) {
            return reject(RejectReason.KEY_MISMATCH);
        }
        return new Parsed(new Ack(consumer, deviceId, epoch, seq, ts), null);
    }

    /** A JSON integer that fits a long ({@code "1"}, {@code 1.5}, {@code 1.0} and huge integers do not). */
    private static Kind longKind(JsonParser p, JsonToken v) throws IOException {
        if (v != JsonToken.VALUE_NUMBER_INT) return Kind.OTHER;
        return p.getNumberType() == JsonParser.NumberType.BIG_INTEGER ? Kind.OTHER : Kind.LONG;
    }

    /** The contract's JSON for an ack (what consumers publish). */
    public static byte[] toJson(Ack a) {
        return Json.write(g -> {
            g.writeStartObject();
            g.writeStringField("consumer", a.consumer);
            g.writeStringField("deviceId", a.deviceId);
            g.writeNumberField("epoch", a.epoch);
            g.writeNumberField("seq", a.seq);
            g.writeNumberField("ts", a.ts);
            g.writeEndObject();
        });
    }
}
