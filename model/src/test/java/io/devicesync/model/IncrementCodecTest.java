package io.devicesync.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class IncrementCodecTest {

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void parsesTheContractExample() {
        IncrementCodec.Parsed p = IncrementCodec.parse(
                b("meter-00042"),
                b("{\"deviceId\":\"meter-00042\",\"epoch\":0,\"seq\":105,\"ts\":1763800000123,"
                        + "\"data\":{\"temp\":4.5,\"door\":null},\"extra\":[1]}"));
        assertTrue(p.isValid(), p.rejectReason);
        assertEquals("meter-00042", p.increment.deviceId);
        assertEquals(0, p.increment.epoch);
        assertEquals(105, p.increment.seq);
        assertEquals(1763800000123L, p.increment.ts);
        assertEquals("{\"temp\":4.5,\"door\":null}", new String(p.increment.data, StandardCharsets.UTF_8));
    }

    @Test
    void epochDefaultsToZeroAndKeyMayBeAbsent() {
        IncrementCodec.Parsed p = IncrementCodec.parse(null, b("{\"deviceId\":\"d\",\"seq\":1,\"ts\":5,\"data\":{}}"));
        assertTrue(p.isValid());
        assertEquals(0, p.increment.epoch);
    }

    @Test
    void roundTripsThroughToJson() {
        Increment i = new Increment("d-1", 3, 7, 99, b("{\"a\":{\"b\":1}}"));
        assertEquals(i, IncrementCodec.parse(b("d-1"), IncrementCodec.toJson(i)).increment);
    }

    @ParameterizedTest(name = "{0}: {1}")
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '`',
            value = {
                "NOT_JSON           | {\"deviceId\":",
                "NOT_JSON           | {\"deviceId\":\"d\",\"seq\":1,\"ts\":1,\"data\":{}} trailing",
                "NOT_OBJECT         | [1,2]",
                "NOT_OBJECT         | 42",
                "MISSING_DEVICE_ID  | {\"seq\":1,\"ts\":1,\"data\":{}}",
                "INVALID_DEVICE_ID  | {\"deviceId\":\"\",\"seq\":1,\"ts\":1,\"data\":{}}",
                "INVALID_DEVICE_ID  | {\"deviceId\":7,\"seq\":1,\"ts\":1,\"data\":{}}",
                "MISSING_SEQ        | {\"deviceId\":\"d\",\"ts\":1,\"data\":{}}",
                "MISTYPED_SEQ       | {\"deviceId\":\"d\",\"seq\":\"1\",\"ts\":1,\"data\":{}}",
                "MISTYPED_SEQ       | {\"deviceId\":\"d\",\"seq\":1.5,\"ts\":1,\"data\":{}}",
                "MISTYPED_SEQ       | {\"deviceId\":\"d\",\"seq\":1.0,\"ts\":1,\"data\":{}}",
                "MISTYPED_SEQ       | {\"deviceId\":\"d\",\"seq\":99999999999999999999999,\"ts\":1,\"data\":{}}",
                "SEQ_OUT_OF_RANGE   | {\"deviceId\":\"d\",\"seq\":0,\"ts\":1,\"data\":{}}",
                "MISSING_TS         | {\"deviceId\":\"d\",\"seq\":1,\"data\":{}}",
                "MISTYPED_TS        | {\"deviceId\":\"d\",\"seq\":1,\"ts\":\"now\",\"data\":{}}",
                "MISTYPED_EPOCH     | {\"deviceId\":\"d\",\"epoch\":\"0\",\"seq\":1,\"ts\":1,\"data\":{}}",
                "MISTYPED_EPOCH     | {\"deviceId\":\"d\",\"epoch\":null,\"seq\":1,\"ts\":1,\"data\":{}}",
                "EPOCH_OUT_OF_RANGE | {\"deviceId\":\"d\",\"epoch\":-1,\"seq\":1,\"ts\":1,\"data\":{}}",
                "MISSING_DATA       | {\"deviceId\":\"d\",\"seq\":1,\"ts\":1}",
                "DATA_NOT_OBJECT    | {\"deviceId\":\"d\",\"seq\":1,\"ts\":1,\"data\":[1]}",
                "DATA_NOT_OBJECT    | {\"deviceId\":\"d\",\"seq\":1,\"ts\":1,\"data\":null}",
            })
    void rejectsWhatTheContractRejects(String reason, String value) {
        assertEquals(reason, IncrementCodec.parse(null, b(value)).rejectReason);
    }

    @Test
    void rejectsDeviceIdLongerThan128() {
        String id = "x".repeat(129);
        assertEquals(
                RejectReason.INVALID_DEVICE_ID,
                IncrementCodec.parse(null, b("{\"deviceId\":\"" + id + "\",\"seq\":1,\"ts\":1,\"data\":{}}"))
                        .rejectReason);
        assertTrue(IncrementCodec.parse(
                        null, b("{\"deviceId\":\"" + "x".repeat(128) + "\",\"seq\":1,\"ts\":1,\"data\":{}}"))
                .isValid());
    }

    @Test
    void rejectsKeyThatDiffersFromDeviceId() {
        assertEquals(
                RejectReason.KEY_MISMATCH,
                IncrementCodec.parse(b("other"), b("{\"deviceId\":\"d\",\"seq\":1,\"ts\":1,\"data\":{}}"))
                        .rejectReason);
    }

    @Test
    void rejectsTombstoneOversizedAndNonUtf8() {
        assertEquals(RejectReason.NULL_VALUE, IncrementCodec.parse(b("d"), null).rejectReason);
        byte[] big = new byte[64 * 1024 + 1];
        java.util.Arrays.fill(big, (byte) ' ');
        assertEquals(RejectReason.TOO_LARGE, IncrementCodec.parse(null, big).rejectReason);
        byte[] latin1 =
                "{\"deviceId\":\"caf\u00e9\",\"seq\":1,\"ts\":1,\"data\":{}}".getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(RejectReason.NOT_UTF8, IncrementCodec.parse(null, latin1).rejectReason);
        byte[] utf16 = "{\"deviceId\":\"d\",\"seq\":1,\"ts\":1,\"data\":{}}".getBytes(StandardCharsets.UTF_16);
        assertTrue(!IncrementCodec.parse(null, utf16).isValid());
    }

    @Test
    void neverThrowsOnDeeplyNestedInput() {
        String deep =
                "{\"deviceId\":\"d\",\"seq\":1,\"ts\":1,\"data\":" + "{\"a\":".repeat(5000) + "1" + "}".repeat(5001);
        IncrementCodec.Parsed p = IncrementCodec.parse(null, b(deep));
        // Jackson's nesting limit (1000) rejects it as JSON; whatever the reason, it is a rejection, not a throw.
        assertTrue(!p.isValid());
    }

    /**
     * The streaming parse decides exactly as the tree-based one it replaced: the same reason for every
     * record, the same increment (data compared as JSON: the streaming parse keeps numbers and
     * strings as written). Records are the contract's shape mutated at random: members dropped,
     * repeated, retyped, truncated, and garbage added.
     */
    @Test
    void decidesAsTheTreeParseOnRandomRecords() {
        java.util.Random r = new java.util.Random(11);
        String[] ids = {"\"d\"", "\"\"", "7", "null", "\"" + "x".repeat(129) + "\"", "{}", "\"d\\u0041\""};
        String[] longs = {
            "1", "0", "-3", "1.0", "\"1\"", "99999999999999999999", "-0", "2e3", "null", "[1]", "9223372036854775807"
        };
        String[] datas = {
            "{}",
            "{\"a\":1}",
            "{ \"a\" : [1, {\"b\":null}] }",
            "[]",
            "3",
            "null",
            "{\"a\":1,\"a\":2}",
            "{\"t\":21.50,\"e\":1e3}",
            "{\"a\\u0062\":1}",
            "{\"a\":{\"b\":1,\"b\":{}}}"
        };
        for (int n = 0; n < 20_000; n++) {
            StringBuilder sb = new StringBuilder("{");
            int members = r.nextInt(8);
            for (int m = 0; m < members; m++) {
                if (m > 0) sb.append(',');
                switch (r.nextInt(6)) {
                    case 0:
                        sb.append("\"deviceId\":").append(ids[r.nextInt(ids.length)]);
                        break;
                    case 1:
                        sb.append("\"seq\":").append(longs[r.nextInt(longs.length)]);
                        break;
                    case 2:
                        sb.append("\"ts\":").append(longs[r.nextInt(longs.length)]);
                        break;
                    case 3:
                        sb.append("\"epoch\":").append(longs[r.nextInt(longs.length)]);
                        break;
                    case 4:
                        sb.append("\"data\":").append(datas[r.nextInt(datas.length)]);
                        break;
                    default:
                        sb.append("\"x\":{\"deviceId\":1}");
                        break;
                }
            }
            sb.append('}');
            String record = sb.toString();
            switch (r.nextInt(10)) {
                case 0:
                    record = record.substring(0, r.nextInt(record.length() + 1));
                    break;
                case 1:
                    record = record + (r.nextBoolean() ? " {}" : " ");
                    break;
                case 2:
                    record = "[" + record + "]";
                    break;
                default:
                    break;
            }
            byte[] key = r.nextInt(4) == 0 ? b(r.nextBoolean() ? "d" : "e") : null;
            IncrementCodec.Parsed streaming = IncrementCodec.parse(key, b(record));
            IncrementCodec.Parsed tree = TreeParser.parseOnTree(key, b(record));
            String what = record;
            assertEquals(tree.rejectReason, streaming.rejectReason, what);
            if (tree.isValid()) {
                Increment a = tree.increment;
                Increment s = streaming.increment;
                assertEquals(
                        a.deviceId + a.epoch + "/" + a.seq + "@" + a.ts,
                        s.deviceId + s.epoch + "/" + s.seq + "@" + s.ts,
                        what);
                assertEquals(Json.parse(a.data), Json.parse(s.data), what);
            }
        }
    }

    /** UTF-16 without a byte order mark passes the UTF-8 check and Jackson reads it: decided as the tree did. */
    @Test
    void utf16WithoutAByteOrderMarkIsDecidedAsBefore() {
        byte[] record =
                "{\"deviceId\":\"d\",\"seq\":1,\"ts\":5,\"data\":{\"a\":1}}".getBytes(StandardCharsets.UTF_16LE);
        IncrementCodec.Parsed tree = TreeParser.parseOnTree(null, record);
        IncrementCodec.Parsed streaming = IncrementCodec.parse(null, record);
        assertEquals(tree.rejectReason, streaming.rejectReason);
        assertEquals(tree.increment, streaming.increment);
    }

    @Test
    void keepsDataAsWrittenLessTheWhitespace() {
        IncrementCodec.Parsed p = IncrementCodec.parse(
                null,
                b(
                        "{\"deviceId\":\"d\",\"seq\":1,\"ts\":5,\"data\": { \"t\" : 21.50 , \"big\": 1e999, \"s\":\"a b\" } }"));
        assertEquals("{\"t\":21.50,\"big\":1e999,\"s\":\"a b\"}", new String(p.increment.data, StandardCharsets.UTF_8));
    }
}
