package io.devicesync.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The tree-based parse of a device's record that the streaming one ({@link IncrementCodec})
 * replaced: the reference of the differential test, in test code only.
 */
final class TreeParser {
    private TreeParser() {}

    /** The tree-based parse the streaming one replaced: the reference its tests compare with. */
    static IncrementCodec.Parsed parseOnTree(byte[] key, byte[] value) {
        if (value == null) return IncrementCodec.Parsed.reject(RejectReason.NULL_VALUE);
        if (value.length > IncrementCodec.MAX_VALUE_BYTES) return IncrementCodec.Parsed.reject(RejectReason.TOO_LARGE);
        if (!IncrementCodec.isUtf8(value)) return IncrementCodec.Parsed.reject(RejectReason.NOT_UTF8);
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(value);
        } catch (JsonProcessingException e) {
            return IncrementCodec.Parsed.reject(RejectReason.NOT_JSON);
        } catch (java.io.IOException e) {
            return IncrementCodec.Parsed.reject(RejectReason.NOT_JSON);
        }
        if (root == null || root.isMissingNode()) return IncrementCodec.Parsed.reject(RejectReason.NOT_JSON);
        if (!root.isObject()) return IncrementCodec.Parsed.reject(RejectReason.NOT_OBJECT);

        JsonNode id = root.get("deviceId");
        if (id == null) return IncrementCodec.Parsed.reject(RejectReason.MISSING_DEVICE_ID);
        if (!id.isTextual()
                || id.textValue().isEmpty()
                || id.textValue().length() > IncrementCodec.MAX_DEVICE_ID_LENGTH) {
            return IncrementCodec.Parsed.reject(RejectReason.INVALID_DEVICE_ID);
        }
        String deviceId = id.textValue();

        JsonNode seq = root.get("seq");
        if (seq == null) return IncrementCodec.Parsed.reject(RejectReason.MISSING_SEQ);
        if (!IncrementCodec.isLong(seq)) return IncrementCodec.Parsed.reject(RejectReason.MISTYPED_SEQ);
        if (seq.longValue() < 1) return IncrementCodec.Parsed.reject(RejectReason.SEQ_OUT_OF_RANGE);

        JsonNode ts = root.get("ts");
        if (ts == null) return IncrementCodec.Parsed.reject(RejectReason.MISSING_TS);
        if (!IncrementCodec.isLong(ts)) return IncrementCodec.Parsed.reject(RejectReason.MISTYPED_TS);

        long epoch = 0;
        JsonNode epochNode = root.get("epoch");
        if (epochNode != null) {
            if (!IncrementCodec.isLong(epochNode)) return IncrementCodec.Parsed.reject(RejectReason.MISTYPED_EPOCH);
            epoch = epochNode.longValue();
            if (epoch < 0) return IncrementCodec.Parsed.reject(RejectReason.EPOCH_OUT_OF_RANGE);
        }

        JsonNode data = root.get("data");
        if (data == null) return IncrementCodec.Parsed.reject(RejectReason.MISSING_DATA);
        if (!data.isObject()) return IncrementCodec.Parsed.reject(RejectReason.DATA_NOT_OBJECT);

        if (key != null && !Arrays.equals(key, deviceId.getBytes(StandardCharsets.UTF_8))) {
            return IncrementCodec.Parsed.reject(RejectReason.KEY_MISMATCH);
        }
        return IncrementCodec.Parsed.ok(
                new Increment(deviceId, epoch, seq.longValue(), ts.longValue(), Json.bytes(data)));
    }
}
