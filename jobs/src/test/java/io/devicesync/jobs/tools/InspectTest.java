package io.devicesync.jobs.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.jobs.JobParameters;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The Inspect command's arguments and output format (the reading itself: InspectITCase in tests/). */
class InspectTest {
    @Test
    void readsItsOptions() {
        Inspect.Options o = Inspect.parse(new String[] {
            "--savepoint", "s3://b/sp-1", "--device", "meter-00042", "--backend", "hashmap", "--state.idle-ttl", "7 d"
        });
        assertEquals("s3://b/sp-1", o.savepoint);
        assertEquals("meter-00042", o.device);
        assertEquals("hashmap", o.backend);
        assertEquals(Duration.ofDays(7), o.idleTtl);
        Inspect.Options fleet = Inspect.parse(new String[] {"--savepoint", "/sp"});
        assertNull(fleet.device);
        assertEquals("rocksdb", fleet.backend);
        assertNull(Inspect.parse(new String[] {"--savepoint", "/sp", "--help"}), "--help wins");
    }

    @Test
    void aBadArgumentStopsItWithAMessageNamingTheArgument() {
        assertMessage("--savepoint: missing", new String[] {"--device", "x"});
        assertMessage(
                "--device: a deviceId is 1 to 128", new String[] {"--savepoint", "/sp", "--device", "x".repeat(129)});
        assertMessage("--backend: 'heap' is neither", new String[] {"--savepoint", "/sp", "--backend", "heap"});
        assertMessage(
                "--state.idle-ttl: 'soon' is invalid", new String[] {"--savepoint", "/sp", "--state.idle-ttl", "soon"});
        assertMessage(
                "--state.idle-ttl: must be at least 1 ms",
                new String[] {"--savepoint", "/sp", "--state.idle-ttl", "0 ms"});
        assertMessage("--devices: unknown option", new String[] {"--savepoint", "/sp", "--devices", "x"});
        assertMessage("--device: needs a value", new String[] {"--savepoint", "/sp", "--device"});
        assertMessage("meter-1: not an option", new String[] {"meter-1"});
    }

    @Test
    void readsStateWithTheTtlTheJobWritesItWithByDefault() {
        JobParameters p = JobParameters.fromArgs(
                new String[] {"--kafka.bootstrap-servers", "b:9092", "--snapshot.url", "postgresql://db:5432/x"});
        assertEquals(p.stateIdleTtl, Inspect.DEFAULT_IDLE_TTL);
    }

    @Test
    void sizesFallInPowerOfTwoBuckets() {
        assertEquals(1, StateInspector.bucket(1));
        assertEquals(32, StateInspector.bucket(17));
        assertEquals(32, StateInspector.bucket(32));
        assertEquals(64, StateInspector.bucket(33));
    }

    @Test
    void indentsWithoutChangingAStringOrANumber() {
        String compact =
                "{\"a\":{\"t\":21.50,\"big\":123456789012345678901,\"s\":\"x,{\\\"y\\\":[1]}\"},\"e\":[],\"o\":{}}";
        String indented = StateInspector.indent(compact.getBytes(StandardCharsets.UTF_8));
        assertEquals(compact, indented.replaceAll("\n *", "").replace("\": ", "\":"));
        assertTrue(indented.contains("\"t\": 21.50,\n"), indented);
        assertTrue(indented.contains("\"s\": \"x,{\\\"y\\\":[1]}\""), indented);
    }

    private static void assertMessage(String start, String[] args) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Inspect.parse(args));
        assertTrue(e.getMessage().startsWith(start), e.getMessage());
    }
}
