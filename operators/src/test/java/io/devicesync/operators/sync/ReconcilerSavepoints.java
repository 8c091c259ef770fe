package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.MAX_DOC;
import static io.devicesync.operators.TestData.inc;

import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.operators.TestData;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OperatorSnapshotUtil;
import org.junit.jupiter.api.Test;

/**
 * Snapshots of the StateReconciler written by a given build, kept under
 * {@code src/test/resources/savepoints/} so that later builds prove they restore them
 * ({@link ReconcilerStateMigrationTest}). Not part of the suite (the name does not end in
 * {@code Test}); a build that changes the reconciler's state writes its own with
 * <pre>
 * mvn -o -B -q -pl operators -am test -Dtest=ReconcilerSavepoints -Dsurefire.failIfNoSpecifiedTests=false \
 *     -Ddevicesync.savepoints.build=&lt;commit&gt;
 * </pre>
 * The files of commit 8f4564d were written that way by that very commit (before the held buffer's
 * order and the kept-document bound were added to the state).
 *
 * <p>What the snapshot holds, per device (maxHeld 100, document limit {@link TestData#MAX_DOC}):
 * <ul>
 *   <li>{@code waits}: published 0/1, holds 0/3, 0/4, 0/5 (waiting for 0/2);
 *   <li>{@code plain}: published 0/2, holds nothing;
 *   <li>{@code big}: at 0/1 with a document over the limit (kept, not published);
 *   <li>{@code failed}: published 0/1, holds 0/3, one failed repair of 0/2.
 * </ul>
 */
class ReconcilerSavepoints {
    static final String[] BACKENDS = {"rocksdb", "hashmap"};
    static final String BIG = "x".repeat(MAX_DOC);

    @Test
    void write() throws Exception {
        String build = System.getProperty("devicesync.savepoints.build");
        if (build == null) throw new IllegalStateException("-Ddevicesync.savepoints.build=<commit> names the files");
        Path dir = Path.of("src/test/resources/savepoints");
        Files.createDirectories(dir);
        for (String backend : BACKENDS) {
            try (var h = harness(backend, 100)) {
                h.open();
                send(h, inc("waits", 1));
                send(h, inc("waits", 3));
                send(h, inc("waits", 4));
                send(h, inc("waits", 5));
                send(h, inc("plain", 1));
                send(h, inc("plain", 2));
                send(h, inc("big", 0, 1, "{\"big\":\"" + BIG + "\"}"));
                send(h, inc("failed", 1));
                send(h, inc("failed", 3));
                LookupRequest q = new LookupRequest("failed", LookupRequest.Kind.GAP, 0, 2, 2, TestData.T0, 0);
                h.processElement2(LookupResult.failed(q, LookupResult.Outcome.FAILED, "database down"), q.ts);
                OperatorSubtaskState snapshot = h.snapshot(1, TestData.T0 + 1_000);
                OperatorSnapshotUtil.writeStateHandle(
                        snapshot, dir.resolve(file(build, backend)).toString());
            }
        }
    }

    static String file(String build, String backend) {
        return "reconciler-" + build + "-" + backend + ".snapshot";
    }

    /** The snapshot a build wrote for a backend, from the test resources. */
    static OperatorSubtaskState read(String build, String backend) throws Exception {
        Path tmp = Files.createTempFile("reconciler-", ".snapshot");
        try (InputStream in = ReconcilerSavepoints.class.getResourceAsStream("/savepoints/" + file(build, backend))) {
            if (in == null) throw new IllegalStateException("no savepoint of " + build + " for " + backend);
            Files.copy(in, tmp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        try {
            return OperatorSnapshotUtil.readStateHandle(tmp.toString());
        } finally {
            Files.delete(tmp);
        }
    }

    static KeyedTwoInputStreamOperatorTestHarness<String, Increment, LookupResult, DeviceState> harness(
            String backend, int maxHeld) throws Exception {
        var h = new KeyedTwoInputStreamOperatorTestHarness<String, Increment, LookupResult, DeviceState>(
                new org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator<>(
                        new StateReconciler(maxHeld, Duration.ofDays(30), MAX_DOC)),
                i -> i.deviceId,
                r -> r.request.deviceId,
                Types.STRING);
        h.setStateBackend(backendOf(backend));
        return h;
    }

    static StateBackend backendOf(String name) {
        return name.equals("rocksdb") ? new EmbeddedRocksDBStateBackend() : new HashMapStateBackend();
    }

    static void send(
            KeyedTwoInputStreamOperatorTestHarness<String, Increment, LookupResult, DeviceState> h, Increment i)
            throws Exception {
        h.processElement1(i, i.ts);
    }
}
