package io.devicesync.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CodecsTest {

    @Test
    void deviceStateIsTheContractJson() {
        DeviceState s = new DeviceState(
                "meter-00042",
                0,
                105,
                1763800000123L,
                "{\"temp\":4.5}".getBytes(StandardCharsets.UTF_8),
                RecordSource.INCREMENT);
        assertEquals(
                "{\"deviceId\":\"meter-00042\",\"epoch\":0,\"seq\":105,\"ts\":1763800000123,"
                        + "\"state\":{\"temp\":4.5},\"source\":\"increment\"}",
                new String(Codecs.deviceState(s), StandardCharsets.UTF_8));
    }

    /**
     * The byte-by-byte writer writes what Jackson's generator wrote before it: ids that need escapes
     * or are not ASCII, and numbers of every length and sign.
     */
    @Test
    void deviceStateIsWrittenAsJacksonWroteIt() {
        String[] ids = {
            "d", "meter-00042", "a\"b\\c", "tab\there", "\u0001x", "caf\u00e9", "\ud83d\ude00", "del\u007f", "</script>"
        };
        long[] numbers = {
            0,
            1,
            9,
            10,
            99,
            100,
            1763800000123L,
            999_999_999_999_999_999L,
            1_000_000_000_000_000_000L,
            Long.MAX_VALUE,
            -1,
            Long.MIN_VALUE
        };
        for (String id : ids) {
            for (long n : numbers) {
                DeviceState s = new DeviceState(
                        id, n, n, n, "{\"a\":[1,\"x\"]}".getBytes(StandardCharsets.UTF_8), RecordSource.LOG);
                byte[] expected = Json.write(g -> {
                    g.writeStartObject();
                    g.writeStringField("deviceId", s.deviceId);
                    g.writeNumberField("epoch", s.epoch);
                    g.writeNumberField("seq", s.seq);
                    g.writeNumberField("ts", s.ts);
                    g.writeFieldName("state");
                    g.writeRawValue(new String(s.state, StandardCharsets.UTF_8));
                    g.writeStringField("source", s.source);
                    g.writeEndObject();
                });
                assertEquals(
                        new String(expected, StandardCharsets.UTF_8),
                        new String(Codecs.deviceState(s), StandardCharsets.UTF_8));
            }
        }
    }

    @Test
    void alertIsTheContractJsonWithDeterministicId() {
        Alert a = Alerts.of(AlertType.SEQUENCE_GAP, Severity.WARNING)
                .device("meter-00042")
                .cause("seq jumped from 101 to 105")
                .strategy(Strategy.FETCH_INCREMENTS)
                .detail("fromSeq", 102)
                .detail("toSeq", 104)
                .detail("missing", 3)
                .ts(1763800000123L)
                .build("0", "102", "104");
        Alert again = Alerts.of(AlertType.SEQUENCE_GAP, Severity.WARNING)
                .device("meter-00042")
                .cause("other words")
                .ts(5)
                .build("0", "102", "104");
        Alert other = Alerts.of(AlertType.SEQUENCE_GAP, Severity.WARNING)
                .device("meter-00042")
                .build("0", "106", "110");
        assertEquals(a.alertId, again.alertId);
        assertNotEquals(a.alertId, other.alertId);
        assertEquals(
                "{\"alertId\":\"" + a.alertId + "\",\"type\":\"SEQUENCE_GAP\",\"severity\":\"WARNING\","
                        + "\"deviceId\":\"meter-00042\",\"consumer\":null,\"cause\":\"seq jumped from 101 to 105\","
                        + "\"strategy\":\"FETCH_INCREMENTS\",\"details\":{\"fromSeq\":102,\"toSeq\":104,\"missing\":3},"
                        + "\"ts\":1763800000123}",
                new String(Codecs.alert(a), StandardCharsets.UTF_8));
        assertEquals(a.toString(), Codecs.readAlert(Codecs.alert(a)).toString());
    }

    @Test
    void aRedispatchIsADeviceStateRecordPlusItsConsumerAndAttempt() {
        DeviceState s = new DeviceState(
                "meter-00042",
                0,
                105,
                1763800000123L,
                "{\"temp\":4.5}".getBytes(java.nio.charset.StandardCharsets.UTF_8),
                RecordSource.INCREMENT);
        byte[] json = Codecs.redispatch(new Redispatch(s, "billing", 2));
        assertEquals(
                "{\"deviceId\":\"meter-00042\",\"epoch\":0,\"seq\":105,\"ts\":1763800000123,\"state\":{\"temp\":4.5},"
                        + "\"source\":\"increment\",\"redispatch\":{\"consumer\":\"billing\",\"attempt\":2}}",
                new String(json, java.nio.charset.StandardCharsets.UTF_8));
        Redispatch back = Codecs.readRedispatch(json);
        assertEquals("billing", back.consumer);
        assertEquals(2, back.attempt);
        assertEquals(s.toString(), back.state.toString());
        assertEquals(s.toString(), Codecs.readDeviceState(json).toString(), "a device-state reader reads it too");
    }
}
