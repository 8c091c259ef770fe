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

    public static List<String> alertTypes(java.util.Collection<StreamRecord<Alert>> records) {
        return values(records).stream().map(a -> a.type).collect(Collectors.toList());
    }
}
