package io.devicesync.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AckCodecTest {

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void parsesTheContractExample() {
        AckCodec.Parsed p = AckCodec.parse(
                b("meter-00042"),
                b(
                        "{\"consumer\":\"billing\",\"deviceId\":\"meter-00042\",\"epoch\":0,\"seq\":105,\"ts\":1763800000456}"));
        assertTrue(p.isValid(), p.rejectReason);
        assertEquals("billing", p.ack.consumer);
        assertEquals("meter-00042", p.ack.deviceId);
        assertEquals(105, p.ack.seq);
        assertEquals(1763800000456L, p.ack.ts);
    }

    @Test
    void epochIsOptionalAndRoundTrips() {
        AckCodec.Parsed p = AckCodec.parse(null, b("{\"consumer\":\"c\",\"deviceId\":\"d\",\"seq\":1,\"ts\":5}"));
        assertTrue(p.isValid());
        assertEquals(0, p.ack.epoch);
        Ack a = new Ack("billing", "d-1", 3, 7, 99);
        Ack back = AckCodec.parse(b("d-1"), AckCodec.toJson(a)).ack;
        assertEquals(a.toString(), back.toString());
    }

    @ParameterizedTest(name = "{1}: {0}")
    @CsvSource(
            delimiter = '|',
            value = {
                "[1]|NOT_OBJECT",
                "{\"consumer\":\"c\"|NOT_JSON",
                "{\"deviceId\":\"d\",\"seq\":1,\"ts\":1}|MISSING_CONSUMER",
                "{\"consumer\":\"\",\"deviceId\":\"d\",\"seq\":1,\"ts\":1}|INVALID_CONSUMER",
                "{\"consumer\":7,\"deviceId\":\"d\",\"seq\":1,\"ts\":1}|INVALID_CONSUMER",
                "{\"consumer\":\"c\",\"seq\":1,\"ts\":1}|MISSING_DEVICE_ID",
                "{\"consumer\":\"c\",\"deviceId\":\"d\",\"ts\":1}|MISSING_SEQ",
                "{\"consumer\":\"c\",\"deviceId\":\"d\",\"seq\":0,\"ts\":1}|SEQ_OUT_OF_RANGE",
                "{\"consumer\":\"c\",\"deviceId\":\"d\",\"seq\":\"1\",\"ts\":1}|MISTYPED_SEQ",
                "{\"consumer\":\"c\",\"deviceId\":\"d\",\"seq\":1}|MISSING_TS",
                "{\"consumer\":\"c\",\"deviceId\":\"d\",\"seq\":1,\"ts\":1.5}|MISTYPED_TS",
                "{\"consumer\":\"c\",\"deviceId\":\"d\",\"seq\":1,\"ts\":1,\"epoch\":-1}|EPOCH_OUT_OF_RANGE",
                "{\"consumer\":\"c\",\"deviceId\":\"other\",\"seq\":1,\"ts\":1}|KEY_MISMATCH",
                "{\"consumer\":\"c\",\"deviceId\":\"d\",\"seq\":1,\"ts\":1} {}|NOT_JSON",
                "{\"consumer\":\"c\",\"deviceId\":\"d\",\"seq\":1,\"ts\":1,\"x\":[1,{\"y\":]}|NOT_JSON",
                "{\"seq\":1,\"ts\":1,\"x\":|NOT_JSON",
                "[1] 2|NOT_JSON",
                "7|NOT_OBJECT",
                "{\"consumer\":null,\"deviceId\":\"d\",\"seq\":1,\"ts\":1}|INVALID_CONSUMER",
                "{\"consumer\":\"c\",\"deviceId\":\"d\",\"seq\":99999999999999999999,\"ts\":1}|MISTYPED_SEQ",
                "{\"consumer\":\"c\",\"deviceId\":\"d\",\"seq\":1.0,\"ts\":1}|MISTYPED_SEQ",
                "{\"consumer\":\"c\",\"deviceId\":\"d\",\"seq\":1,\"ts\":1,\"epoch\":null}|MISTYPED_EPOCH",
                "{\"consumer\":\"c\",\"deviceId\":[\"d\"],\"seq\":1,\"ts\":1}|INVALID_DEVICE_ID",
            })
    void rejects(String json, String reason) {
        assertEquals(reason, AckCodec.parse(b("d"), b(json)).rejectReason);
    }

    @Test
    void otherFieldsOfAnyShapeAreSkippedAndARepeatedFieldCountsWithItsLastValue() {
        AckCodec.Parsed p = AckCodec.parse(
                b("d"),
                b("{\"note\":{\"a\":[1,2,{\"b\":null}]},\"consumer\":\"x\",\"consumer\":\"billing\","
                        + "\"deviceId\":\"d\",\"seq\":3,\"seq\":4,\"ts\":9,\"epoch\":2}"));
        assertTrue(p.isValid(), p.rejectReason);
        assertEquals("billing", p.ack.consumer);
        assertEquals(4, p.ack.seq);
        assertEquals(2, p.ack.epoch);
    }

    @Test
    void rejectsWithoutThrowing() {
        assertEquals(RejectReason.NULL_VALUE, AckCodec.parse(null, null).rejectReason);
        assertEquals(RejectReason.NOT_UTF8, AckCodec.parse(null, new byte[] {(byte) 0xff, '{', '}'}).rejectReason);
        assertEquals(
                RejectReason.INVALID_CONSUMER,
                AckCodec.parse(
                                null,
                                b("{\"consumer\":\"" + "c".repeat(129) + "\",\"deviceId\":\"d\",\"seq\":1,\"ts\":1}"))
                        .rejectReason);
    }
}
