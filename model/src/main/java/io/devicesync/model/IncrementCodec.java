package io.devicesync.model;

import com.fasterxml.jackson.core.JsonProcessingException;
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

    private static Parsed parseUnchecked(byte[] key, byte[] value) {
        if (value == null) return Parsed.reject(RejectReason.NULL_VALUE);
        if (value.length > MAX_VALUE_BYTES) return Parsed.reject(RejectReason.TOO_LARGE);
        if (!isUtf8(value)) return Parsed.reject(RejectReason.NOT_UTF8);
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(value);
        } catch (JsonProcessingException e) {
            return Parsed.reject(RejectReason.NOT_JSON);
        } catch (java.io.IOException e) {
            return Parsed.reject(RejectReason.NOT_JSON);
        }
        if (root == null || root.isMissingNode()) return Parsed.reject(RejectReason.NOT_JSON);
        if (!root.isObject()) return Parsed.reject(RejectReason.NOT_OBJECT);

        JsonNode id = root.get("deviceId");
        if (id == null) return Parsed.reject(RejectReason.MISSING_DEVICE_ID);
        if (!id.isTextual() || id.textValue().isEmpty() || id.textValue().length() > MAX_DEVICE_ID_LENGTH) {
            return Parsed.reject(RejectReason.INVALID_DEVICE_ID);
        }
        String deviceId = id.textValue();

        JsonNode seq = root.get("seq");
        if (seq == null) return Parsed.reject(RejectReason.MISSING_SEQ);
        if (!isLong(seq)) return Parsed.reject(RejectReason.MISTYPED_SEQ);
        if (seq.longValue() < 1) return Parsed.reject(RejectReason.SEQ_OUT_OF_RANGE);

        JsonNode ts = root.get("ts");
        if (ts == null) return Parsed.reject(RejectReason.MISSING_TS);
        if (!isLong(ts)) return Parsed.reject(RejectReason.MISTYPED_TS);

        long epoch = 0;
        JsonNode epochNode = root.get("epoch");
        if (epochNode != null) {
            if (!isLong(epochNode)) return Parsed.reject(RejectReason.MISTYPED_EPOCH);
            epoch = epochNode.longValue();
            if (epoch < 0) return Parsed.reject(RejectReason.EPOCH_OUT_OF_RANGE);
        }

        JsonNode data = root.get("data");
        if (data == null) return Parsed.reject(RejectReason.MISSING_DATA);
        if (!data.isObject()) return Parsed.reject(RejectReason.DATA_NOT_OBJECT);

        if (key != null && !Arrays.equals(key, deviceId.getBytes(StandardCharsets.UTF_8))) {
            return Parsed.reject(RejectReason.KEY_MISMATCH);
        }
        return Parsed.ok(new Increment(deviceId, epoch, seq.longValue(), ts.longValue(), Json.bytes(data)));
    }

    /** A JSON integer that fits a long: {@code "1"}, {@code 1.5} and {@code 1.0} are not. */
    static boolean isLong(JsonNode n) {
        return n.isIntegralNumber() && n.canConvertToLong();
    }

    static boolean isUtf8(byte[] value) {
        int i = 0;
        while (i < value.length && value[i] >= 0) i++; // plain ASCII (most records) needs no decoder
        if (i == value.length) return true;
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
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
