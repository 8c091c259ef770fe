package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.alertTypes;
import static io.devicesync.operators.TestData.doc;
import static io.devicesync.operators.TestData.inc;
import static io.devicesync.operators.TestData.published;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Alert;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.operators.TestData;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A savepoint of the StateReconciler written by the previous build (commit 8f4564d, before the
 * held buffer's order and the kept-document bound were in its state; see
 * {@link ReconcilerSavepoints}) restores into this build, on both backends, and every device goes
 * on where it was: the held increments are ordered from one scan, then the cap drops the oldest.
 */
class ReconcilerStateMigrationTest {
    private static final String PREVIOUS = "8f4564d";

    private KeyedTwoInputStreamOperatorTestHarness<String, Increment, LookupResult, DeviceState> restored(
            String backend, int maxHeld) throws Exception {
        var h = ReconcilerSavepoints.harness(backend, maxHeld);
        h.setup();
        h.initializeState(ReconcilerSavepoints.read(PREVIOUS, backend));
        h.open();
        return h;
    }

    private static LookupRequest gap(String d, long from, long to) {
        return new LookupRequest(d, LookupRequest.Kind.GAP, 0, from, to, TestData.T0 + 2_000, 0);
    }

    /** Devices with entries in the keyed state {@code name} (on either backend). */
    private static long keys(
            KeyedTwoInputStreamOperatorTestHarness<String, Increment, LookupResult, DeviceState> h, String name)
            throws Exception {
        var backend = ((org.apache.flink.streaming.api.operators.AbstractStreamOperator<?>) h.getOperator())
                .<String>getKeyedStateBackend();
        try (Stream<String> keys = backend.getKeys(name, VoidNamespace.INSTANCE)) {
            return keys.distinct().count();
        }
    }

    private static List<DeviceState> of(List<DeviceState> out, String device) {
        return out.stream().filter(s -> s.deviceId.equals(device)).collect(Collectors.toList());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void everyDeviceGoesOnWhereItWas(String backend) throws Exception {
        try (var h = restored(backend, 100)) {
            var reconciler = (StateReconciler)
                    ((org.apache.flink.streaming.api.operators.AbstractUdfStreamOperator<?, ?>) h.getOperator())
                            .getUserFunction();
            // That build kept no count of waiting devices in its state: a device restored waiting
            // is counted when it is next touched (README, upgrade notes).
            assertEquals(0, reconciler.waitingDevices(), "the build before kept no count");
            ReconcilerSavepoints.send(h, inc("waits", 6));
            assertEquals(1, reconciler.waitingDevices(), "waits still waits, and is counted now");
            h.processElement2(
                    LookupResult.log(gap("waits", 2, 2), new Increment[] {inc("waits", 2)}), TestData.T0 + 2_000);
            ReconcilerSavepoints.send(h, inc("plain", 3));
            ReconcilerSavepoints.send(h, inc("big", 0, 2, "{\"big\":null}"));
            h.processElement2(
                    LookupResult.log(gap("failed", 2, 2), new Increment[] {inc("failed", 2)}), TestData.T0 + 2_000);
            List<DeviceState> out = h.extractOutputValues();
            assertEquals(
                    "0/2:log,0/3:increment,0/4:increment,0/5:increment,0/6:increment", published(of(out, "waits")));
            assertEquals("{\"n\":6}", doc(of(out, "waits").get(4)));
            assertEquals("0/3:increment", published(of(out, "plain")));
            assertEquals(
                    "0/2:increment", published(of(out, "big")), "the kept oversized document shrank and is published");
            assertEquals("{}", doc(of(out, "big").get(0)));
            assertEquals("0/2:log,0/3:increment", published(of(out, "failed")));
            List<Alert> alerts = TestData.values(TestData.reconcilerAlerts(h));
            assertEquals(
                    List.of("RESYNC_RESOLVED"),
                    alerts.stream().map(a -> a.type.name()).toList(),
                    "the failure count came through: its repair is resolved");
            assertTrue(alerts.get(0).details.contains("\"failures\":1"), alerts.get(0).details);
            assertEquals(0, reconciler.waitingDevices(), "failed, never counted, resolved without going below 0");
            assertEquals(0, keys(h, StateReconciler.HELD), "nothing held");
            assertEquals(0, keys(h, StateReconciler.HELD_ORDER), "no order left behind");
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void heldIncrementsOfThePreviousBuildAreOrderedAndTheCapDropsTheOldest(String backend) throws Exception {
        try (var h = restored(backend, 3)) {
            ReconcilerSavepoints.send(h, inc("waits", 6)); // holds 3, 4, 5: at the cap of 3
            List<Alert> alerts = TestData.values(TestData.reconcilerAlerts(h));
            assertEquals(List.of("BUFFER_OVERFLOW"), alertTypes(TestData.reconcilerAlerts(h)));
            assertTrue(alerts.get(0).details.contains("\"droppedSeq\":3"), alerts.get(0).details);
            ReconcilerSavepoints.send(h, inc("waits", 7)); // drops 4
            h.processElement2(
                    LookupResult.snapshot(
                            LookupRequest.audit("waits", 0, 7, true, true, TestData.T0 + 3_000, 0),
                            0,
                            4,
                            "{\"s\":4}".getBytes(StandardCharsets.UTF_8)),
                    TestData.T0 + 3_000);
            List<DeviceState> out = of(h.extractOutputValues(), "waits");
            assertEquals("0/4:snapshot,0/5:increment,0/6:increment,0/7:increment", published(out));
            assertEquals("{\"s\":4,\"n\":7}", doc(out.get(3)));
        }
    }
}
