package io.devicesync.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** Validates {@code device-events} records against the contract and writes increments as JSON. */
public final class IncrementCodec {
    private IncrementCodec() {}

    public static final int MAX_VALUE_BYTES = 64 * 1024;
    public static final int MAX_DEVICE_ID_LENGTH = 128;

    /** The outcome of parsing one record: an increment, or the reason it was rejected. */
    public static final class Parsed {
        public final Increment increment;
        public final String rejectReason;

        private Parsed(Increment increment, String rejectReason) {
            this.increment = increment;
            this.rejectReason = rejectReason;
        }

        static Parsed ok(Increment i) {
            return new Parsed(i, null);
        }

        static Parsed reject(String reason) {
            return new Parsed(null, reason);
        }

        public boolean isValid() {
            return increment != null;
        }
    }

    /**
     * Parses and validates one record. Never throws: anything unexpected is a rejection with reason
     * {@link RejectReason#INTERNAL_ERROR}, so a record is never lost and never fails the job.
     */
    public static Parsed parse(byte[] key, byte[] value) {
        try {
            return parseUnchecked(key, value);
        } catch (RuntimeException | StackOverflowError e) {
            return Parsed.reject(RejectReason.INTERNAL_ERROR);
        }
    }

    /**
     * One streaming pass over the record (no tree): the envelope's members are read as they come (a
     * member given twice: the last one counts, as in a tree) and {@code data} is validated by the
     * parser and kept as its compact bytes, strings and numbers as the device wrote them. The rules
     * and their order are those of the tree parse it replaced, which the differential test keeps as
     * its reference ({@code TreeParser}, test code).
     */
    private static Parsed parseUnchecked(byte[] key, byte[] value) {
        if (value == null) return Parsed.reject(RejectReason.NULL_VALUE);
        if (value.length > MAX_VALUE_BYTES) return Parsed.reject(RejectReason.TOO_LARGE);
        if (!isUtf8(value)) return Parsed.reject(RejectReason.NOT_UTF8);
        // What the members were: null when absent, else the token of the value (of the last occurrence).
        JsonToken idToken = null, seqToken = null, tsToken = null, epochToken = null, dataToken = null;
        String deviceId = null;
        long seq = 0, ts = 0, epoch = 0;
        boolean seqLong = false, tsLong = false, epochLong = false;
        int dataFrom = -1, dataTo = -1;
        try (JsonParser p = Json.MAPPER.getFactory().createParser(value)) {
            JsonToken root = p.nextToken();
            if (root == null) return Parsed.reject(RejectReason.NOT_JSON);
            if (root != JsonToken.START_OBJECT) {
                p.skipChildren();
                if (p.nextToken() != null) return Parsed.reject(RejectReason.NOT_JSON);
                return Parsed.reject(RejectReason.NOT_OBJECT);
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken t = p.nextToken();
                switch (name) {
                    case "deviceId":
                        idToken = t;
                        deviceId = t == JsonToken.VALUE_STRING ? p.getText() : null;
                        break;
                    case "seq":
                        seqToken = t;
                        seqLong = isLong(p, t);
                        if (seqLong) seq = p.getLongValue();
                        break;
                    case "ts":
                        tsToken = t;
                        tsLong = isLong(p, t);
                        if (tsLong) ts = p.getLongValue();
                        break;
                    case "epoch":
                        epochToken = t;
                        epochLong = isLong(p, t);
                        if (epochLong) epoch = p.getLongValue();
                        break;
                    case "data":
                        dataToken = t;
                        if (t == JsonToken.START_OBJECT) {
                            dataFrom = (int) p.currentTokenLocation().getByteOffset();
                            p.skipChildren();
                            dataTo = (int) p.currentTokenLocation().getByteOffset() + 1;
                        }
                        break;
                    default:
                        break;
                }
                p.skipChildren();
            }
            if (p.nextToken() != null) return Parsed.reject(RejectReason.NOT_JSON); // trailing tokens
        } catch (java.io.IOException e) {
            return Parsed.reject(RejectReason.NOT_JSON);
        }

        if (idToken == null) return Parsed.reject(RejectReason.MISSING_DEVICE_ID);
        if (deviceId == null || deviceId.isEmpty() || deviceId.length() > MAX_DEVICE_ID_LENGTH) {
            return Parsed.reject(RejectReason.INVALID_DEVICE_ID);
        }
        if (seqToken == null) return Parsed.reject(RejectReason.MISSING_SEQ);
        if (!seqLong) return Parsed.reject(RejectReason.MISTYPED_SEQ);
        if (seq < 1) return Parsed.reject(RejectReason.SEQ_OUT_OF_RANGE);
        if (tsToken == null) return Parsed.reject(RejectReason.MISSING_TS);
        if (!tsLong) return Parsed.reject(RejectReason.MISTYPED_TS);
        if (epochToken != null) {
            if (!epochLong) return Parsed.reject(RejectReason.MISTYPED_EPOCH);
            if (epoch < 0) return Parsed.reject(RejectReason.EPOCH_OUT_OF_RANGE);
        }
        if (dataToken == null) return Parsed.reject(RejectReason.MISSING_DATA);
        if (dataToken != JsonToken.START_OBJECT) return Parsed.reject(RejectReason.DATA_NOT_OBJECT);
        if (key != null && !Arrays.equals(key, deviceId.getBytes(StandardCharsets.UTF_8))) {
            return Parsed.reject(RejectReason.KEY_MISMATCH);
        }
        // No byte offsets: Jackson detected another encoding (UTF-16 or UTF-32 without a byte order
        // mark passes the UTF-8 check). The envelope was checked above; data is taken from a tree.
        if (dataFrom < 0) return Parsed.ok(new Increment(deviceId, epoch, seq, ts, dataOfTree(value)));
        byte[] data = RawJson.compactPlain(value, dataFrom, dataTo);
        if (data == null) data = Json.bytes(Json.parse(Arrays.copyOfRange(value, dataFrom, dataTo)));
        return Parsed.ok(new Increment(deviceId, epoch, seq, ts, data));
    }

    /** The compact bytes of the record's {@code data} object, from a tree of the whole record. */
    private static byte[] dataOfTree(byte[] value) {
        try {
            return Json.bytes(Json.MAPPER.readTree(value).get("data"));
        } catch (java.io.IOException e) {
            throw new IllegalStateException("a record that parsed once did not parse again", e);
        }
    }

    /** A JSON integer that fits a long: {@code "1"}, {@code 1.5} and {@code 1.0} are not. */
    static boolean isLong(JsonNode n) {
        return n.isIntegralNumber() && n.canConvertToLong();
    }

    private static boolean isLong(JsonParser p, JsonToken t) throws java.io.IOException {
        if (t != JsonToken.VALUE_NUMBER_INT) return false;
        JsonParser.NumberType type = p.getNumberType();
        return type == JsonParser.NumberType.INT || type == JsonParser.NumberType.LONG;
    }

    static boolean isUtf8(byte[] value) {
        int i = 0;
        while (i < value.length && value[i] >= 0) i++; // plain ASCII (most records) needs no decoder
        if (i == value.length) return true;
        CharsetDecoder decoder = StandardCharsets.UTF_8
                .newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            decoder.decode(ByteBuffer.wrap(value));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    /** The contract's JSON for an increment (what devices publish). */
    public static byte[] toJson(Increment i) {
        return Json.write(g -> {
            g.writeStartObject();
            g.writeStringField("deviceId", i.deviceId);
            g.writeNumberField("epoch", i.epoch);
            g.writeNumberField("seq", i.seq);
            g.writeNumberField("ts", i.ts);
            g.writeFieldName("data");
            Json.writeRaw(g, i.data);
            g.writeEndObject();
        });
    }
}
