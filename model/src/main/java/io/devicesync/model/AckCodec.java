package io.devicesync.model;

import com.fasterxml.jackson.databind.JsonNode;
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

    private static Parsed parseUnchecked(byte[] key, byte[] value) {
        if (value == null) return reject(RejectReason.NULL_VALUE);
        if (value.length > MAX_VALUE_BYTES) return reject(RejectReason.TOO_LARGE);
        if (!IncrementCodec.isUtf8(value)) return reject(RejectReason.NOT_UTF8);
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(value);
        } catch (IOException e) {
            return reject(RejectReason.NOT_JSON);
        }
        if (root == null || root.isMissingNode()) return reject(RejectReason.NOT_JSON);
        if (!root.isObject()) return reject(RejectReason.NOT_OBJECT);

        JsonNode consumer = root.get("consumer");
        if (consumer == null) return reject(RejectReason.MISSING_CONSUMER);
        if (!consumer.isTextual() || consumer.textValue().isEmpty() || consumer.textValue().length() > MAX_CONSUMER_LENGTH) {
            return reject(RejectReason.INVALID_CONSUMER);
        }
        JsonNode id = root.get("deviceId");
        if (id == null) return reject(RejectReason.MISSING_DEVICE_ID);
        if (!id.isTextual() || id.textValue().isEmpty() || id.textValue().length() > IncrementCodec.MAX_DEVICE_ID_LENGTH) {
            return reject(RejectReason.INVALID_DEVICE_ID);
        }
        String deviceId = id.textValue();
        JsonNode seq = root.get("seq");
        if (seq == null) return reject(RejectReason.MISSING_SEQ);
        if (!IncrementCodec.isLong(seq)) return reject(RejectReason.MISTYPED_SEQ);
        if (seq.longValue() < 1) return reject(RejectReason.SEQ_OUT_OF_RANGE);
        JsonNode ts = root.get("ts");
        if (ts == null) return reject(RejectReason.MISSING_TS);
        if (!IncrementCodec.isLong(ts)) return reject(RejectReason.MISTYPED_TS);
        long epoch = 0;
        JsonNode epochNode = root.get("epoch");
        if (epochNode != null) {
            if (!IncrementCodec.isLong(epochNode)) return reject(RejectReason.MISTYPED_EPOCH);
            epoch = epochNode.longValue();
            if (epoch < 0) return reject(RejectReason.EPOCH_OUT_OF_RANGE);
        }
        if (key != null && !Arrays.equals(key, deviceId.getBytes(StandardCharsets.UTF_8))) {
            return reject(RejectReason.KEY_MISMATCH);
        }
        return new Parsed(new Ack(consumer.textValue(), deviceId, epoch, seq.longValue(), ts.longValue()), null);
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
