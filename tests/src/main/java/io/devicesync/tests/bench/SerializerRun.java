package io.devicesync.tests.bench;

import io.devicesync.model.Ack;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.RecordSource;
import io.devicesync.operators.GuardState;
import io.devicesync.operators.ReconcilerState;
import io.devicesync.operators.delivery.AckBatch;
import io.devicesync.operators.delivery.AckBatchSerializer;
import io.devicesync.operators.delivery.ConsumerTrack;
import io.devicesync.operators.delivery.DeliveryCodec;
import io.devicesync.operators.delivery.DeliveryState;
import io.devicesync.operators.serde.Compact;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.IntFunction;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

/**
 * The hand-written serializers against Flink's POJO serializer on the same values: nanoseconds per
 * round trip (serialize, then deserialize) and bytes per value, warm (each pair runs for a second
 * unmeasured first). Values are shaped like the benchmark's (a device id of 13 characters, a
 * document of about 300 bytes, a patch of about 60, three consumers). This is what the README's
 * serializer table cites: a hand-written serializer stays where it pays.
 */
final class SerializerRun {
    private SerializerRun() {}

    record Row(String type, String serializer, double nanos, double bytes) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%-16s %-12s %8.0f ns  %6.1f B", type, serializer, nanos, bytes);
        }
    }

    static List<Row> run(double secondsEach) throws Exception {
        List<Row> rows = new ArrayList<>();
        SerializerConfigImpl config = new SerializerConfigImpl();
        compare(rows, "Increment", SerializerRun::increment, Compact.INCREMENT, Increment.class, config, secondsEach);
        compare(
                rows,
                "DeviceState",
                SerializerRun::version,
                Compact.DEVICE_STATE,
                DeviceState.class,
                config,
                secondsEach);
        compare(rows, "GuardState", SerializerRun::guard, Compact.GUARD_STATE, GuardState.class, config, secondsEach);
        compare(
                rows,
                "ReconcilerState",
                SerializerRun::reconciler,
                Compact.RECONCILER_STATE,
                ReconcilerState.class,
                config,
                secondsEach);
        compare(
                rows,
                "DeliveryState",
                SerializerRun::delivery,
                DeliveryCodec.STATE,
                DeliveryState.class,
                config,
                secondsEach);
        compare(rows, "AckBatch", SerializerRun::acks, AckBatchSerializer.TYPE, AckBatch.class, config, secondsEach);
        return rows;
    }

    private static <T> void compare(
            List<Row> rows,
            String name,
            IntFunction<T> values,
            TypeInformation<T> compact,
            Class<T> type,
            SerializerConfigImpl config,
            double seconds)
            throws Exception {
        List<T> sample = new ArrayList<>();
        for (int i = 0; i < 4096; i++) sample.add(values.apply(i));
        TypeInformation<T> pojo = TypeInformation.of(type);
        rows.add(measure(name, "hand-written", compact.createSerializer(config), sample, seconds));
        rows.add(measure(name, "Flink POJO", pojo.createSerializer(config), sample, seconds));
    }

    private static <T> Row measure(String name, String label, TypeSerializer<T> s, List<T> sample, double seconds)
            throws Exception {
        DataOutputSerializer out = new DataOutputSerializer(4096);
        DataInputDeserializer in = new DataInputDeserializer();
        long bytes = 0;
        for (T v : sample) {
            out.clear();
            s.serialize(v, out);
            bytes += out.length();
        }
        long sink = 0;
        for (int pass = 0; pass < 2; pass++) { // the first pass warms the JIT, the second is measured
            long n = 0;
            long start = System.nanoTime();
            long until = start + (long) (seconds * 1e9);
            while (System.nanoTime() < until) {
                for (T v : sample) {
                    out.clear();
                    s.serialize(v, out);
                    in.setBuffer(out.getSharedBuffer(), 0, out.length());
                    if (s.deserialize(in) == null) sink++;
                }
                n += sample.size();
            }
            if (pass == 1) {
                if (sink == 42) System.out.print(""); // keeps the results alive
                return new Row(name, label, (System.nanoTime() - start) / (double) n, bytes / (double) sample.size());
            }
        }
        throw new IllegalStateException();
    }

    private static String id(int i) {
        return String.format(Locale.ROOT, "device-%06d", i);
    }

    private static byte[] document(int i) {
        StringBuilder b = new StringBuilder("{\"firmware\":\"3.2." + (i % 10) + "\",\"readings\":{");
        for (int k = 0; k < 12; k++)
            b.append(k == 0 ? "" : ",").append("\"r").append(k).append("\":").append(i * 7 + k);
        return b.append("},\"status\":\"ok\",\"site\":\"plant-")
                .append(i % 50)
                .append("\"}")
                .toString()
                .getBytes(StandardCharsets.UTF_8);
    }

    static Increment increment(int i) {
        byte[] patch =
                ("{\"readings\":{\"r" + (i % 12) + "\":" + i + "},\"status\":\"ok\"}").getBytes(StandardCharsets.UTF_8);
        return new Increment(id(i), 0, 1000 + i, 1_763_800_000_000L + i, patch);
    }

    static DeviceState version(int i) {
        return new DeviceState(id(i), 0, 1000 + i, 1_763_800_000_000L + i, document(i), RecordSource.INCREMENT);
    }

    static GuardState guard(int i) {
        GuardState g = new GuardState();
        g.seq = 1000 + i;
        g.auditTimer = 1_763_800_300_000L + i;
        g.lastSeen = 1_763_800_000_000L + i;
        g.active = true;
        return g;
    }

    static ReconcilerState reconciler(int i) {
        ReconcilerState s = new ReconcilerState();
        s.published = true;
        s.seq = 1000 + i;
        s.ts = 1_763_800_000_000L + i;
        s.state = document(i);
        return s;
    }

    static DeliveryState delivery(int i) {
        DeliveryState s = new DeliveryState();
        s.published = true;
        s.seq = 1000 + i;
        s.timer = 1_763_800_040_000L;
        s.pubEpoch = new long[] {0, 0};
        s.pubSeq = new long[] {999 + i, 1000 + i};
        s.pubAt = new long[] {1_763_800_000_000L, 1_763_800_001_000L};
        String[] names = {"billing", "dashboard", "archive"};
        s.consumers = new ConsumerTrack[names.length];
        for (int c = 0; c < names.length; c++) {
            ConsumerTrack t = new ConsumerTrack();
            t.name = names[c];
            t.status = c == 0 ? ConsumerTrack.Status.IDLE : ConsumerTrack.Status.PENDING;
            t.ackSeq = 999 + i;
            t.ackEpoch = 0;
            t.firstSeq = 1000 + i;
            t.firstAt = 1_763_800_001_000L;
            t.due = 1_763_800_041_000L;
            s.consumers[c] = t;
        }
        return s;
    }

    /** A device's coalesced acks as the tracker reads them: three consumers, each's latest. */
    static AckBatch acks(int i) {
        String device = String.format(Locale.ROOT, "device-%07d", i);
        String[] names = {"billing", "dashboard", "archive"};
        Ack[] acks = new Ack[names.length];
        for (int c = 0; c < names.length; c++) {
            acks[c] = new Ack(names[c], device, 0, 1000 + i - c, 1_763_800_001_000L + c);
        }
        return new AckBatch(device, acks);
    }

    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 2;
        for (Row r : run(seconds)) System.out.println(r);
    }
}
