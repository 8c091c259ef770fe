package io.devicesync.operators;

import io.devicesync.model.Alert;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/** Small builders shared by the operator tests. Times are fixed: tests never read the clock. */
public final class TestData {
    private TestData() {}

    public static final long T0 = 1_763_800_000_000L;
    /** The document limit of the reconciler in the operator tests. */
    public static final int MAX_DOC = 1024;

    public static Increment inc(String device, long epoch, long seq, String data) {
        return new Increment(device, epoch, seq, T0 + seq * 10, data.getBytes(StandardCharsets.UTF_8));
    }

    public static Increment inc(String device, long seq) {
        return inc(device, 0, seq, "{\"n\":" + seq + "}");
    }

    public static String versions(List<Increment> out) {
        return out.stream().map(i -> i.epoch + "/" + i.seq).collect(Collectors.joining(","));
    }

    public static String published(List<DeviceState> out) {
        return out.stream().map(s -> s.epoch + "/" + s.seq + ":" + s.source).collect(Collectors.joining(","));
    }

    public static String doc(DeviceState s) {
        return new String(s.state, StandardCharsets.UTF_8);
    }

    public static <T> List<T> values(java.util.Collection<StreamRecord<T>> records) {
        return records == null
                ? List.of()
                : records.stream().map(StreamRecord::getValue).collect(Collectors.toList());
    }

    /**
     * The alerts a StateReconciler emitted, in order, with their timestamps: its side output
     * {@code AlertRouting.RECONCILER} without the breaker reports it also carries.
     */
    public static List<StreamRecord<Alert>> reconcilerAlerts(
            org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness<?> h) {
        java.util.Collection<StreamRecord<io.devicesync.operators.alerts.PolicyInput>> in =
                h.getSideOutput(io.devicesync.operators.alerts.AlertRouting.RECONCILER);
        return in == null
                ? List.of()
                : in.stream()
                        .filter(r -> r.getValue().alert != null)
                        .map(r -> new StreamRecord<>(r.getValue().alert, r.getTimestamp()))
                        .collect(Collectors.toList());
    }

    public static List<String> alertTypes(java.util.Collection<StreamRecord<Alert>> records) {
        return values(records).stream().map(a -> a.type.name()).collect(Collectors.toList());
    }

    /**
     * The snapshot {@code build} wrote of {@code operator} on {@code backend}
     * ({@code src/test/resources/savepoints/<operator>-<build>-<backend>.snapshot}).
     */
    public static org.apache.flink.runtime.checkpoint.OperatorSubtaskState snapshot(
            String operator, String build, String backend) throws Exception {
        String name = operator + "-" + build + "-" + backend + ".snapshot";
        java.nio.file.Path tmp = java.nio.file.Files.createTempFile(operator + "-", ".snapshot");
        try (java.io.InputStream in = TestData.class.getResourceAsStream("/savepoints/" + name)) {
            if (in == null) throw new IllegalStateException("no snapshot " + name);
            java.nio.file.Files.copy(in, tmp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        try {
            return org.apache.flink.streaming.util.OperatorSnapshotUtil.readStateHandle(tmp.toString());
        } finally {
            java.nio.file.Files.delete(tmp);
        }
    }

    /** The state backend of a migration test's name: "rocksdb" or "hashmap". */
    public static org.apache.flink.runtime.state.StateBackend backend(String name) {
        return name.equals("rocksdb")
                ? new org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend()
                : new org.apache.flink.runtime.state.hashmap.HashMapStateBackend();
    }
}
