package io.devicesync.jobs.tools;

import com.fasterxml.jackson.core.JsonGenerator;
import io.devicesync.jobs.Uids;
import io.devicesync.model.Json;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.api.java.tuple.Tuple4;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.JobManagerOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.api.OperatorIdentifier;
import org.apache.flink.state.api.SavepointReader;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;

/**
 * Reads the job's keyed state with the State Processor API on a local, bounded run and renders it as
 * JSON (see {@link Inspect} for the command). One read per keyed operator of the device's path,
 * {@link StateReaders} registering the descriptors exactly as the operators do; all of them in one
 * local job, its results collected.
 */
public final class StateInspector {
    private StateInspector() {}

    /**
     * The keyed operators whose state is per device, in the order of the data flow: the fused
     * step's, then the two it replaced (in savepoints of earlier builds), then the tracker's.
     */
    static final List<String> OPERATORS =
            List.of(Uids.DEVICE_SYNC, Uids.SEQUENCE_GUARD, Uids.STATE_RECONCILER, Uids.DELIVERY_TRACKER);

    private static final String ABSENT = "Savepoint does not contain state with operator";

    /**
     * The JSON report for the options: one device's state per operator, or the fleet's counts and
     * sizes. A bad {@code --savepoint} is an IllegalArgumentException naming it.
     */
    public static String inspect(Inspect.Options o) throws Exception {
        // Run from a plain java command: a local environment (an in-JVM cluster), bounded. Under
        // `flink run` or in a test's MiniCluster: that cluster, as any job.
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(localConfig());
        SavepointReader savepoint;
        try {
            savepoint = SavepointReader.read(env, o.savepoint, backend(o.backend));
        } catch (FileNotFoundException e) {
            throw new IllegalArgumentException(
                    "--savepoint: no savepoint or checkpoint at " + o.savepoint + " (" + e.getMessage() + ")");
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("--savepoint: cannot read " + o.savepoint + ": " + e.getMessage(), e);
        }
        TypeInformation<Tuple3<String, Long, String>> type = Types.TUPLE(Types.STRING, Types.LONG, Types.STRING);
        List<String> absent = new ArrayList<>();
        DataStream<Tuple3<String, Long, String>> all = null;
        for (String uid : OPERATORS) {
            DataStream<Tuple3<String, Long, String>> read;
            try {
                read = savepoint.readKeyedState(
                        OperatorIdentifier.forUid(uid),
                        StateReaders.forUid(uid, o.device, o.idleTtl),
                        Types.STRING,
                        type);
            } catch (IOException e) {
                if (e.getMessage() != null && e.getMessage().startsWith(ABSENT)) {
                    absent.add(uid);
                    continue;
                }
                throw e;
            }
            read = read.filter(StateReaders::isSome).name("Devices of " + uid);
            all = all == null ? read : all.union(read);
        }
        if (o.device != null) return deviceReport(o, all, absent);
        return fleetReport(o, all, absent);
    }

    private static String deviceReport(
            Inspect.Options o, DataStream<Tuple3<String, Long, String>> all, List<String> absent) throws Exception {
        Map<String, String> found = new TreeMap<>();
        if (all != null) {
            try (CloseableIterator<Tuple3<String, Long, String>> it =
                    all.executeAndCollect("devicesync inspect " + o.device)) {
                while (it.hasNext()) {
                    Tuple3<String, Long, String> t = it.next();
                    found.put(t.f0, t.f2);
                }
            }
        }
        return indent(Json.write(g -> {
            g.writeStartObject();
            g.writeStringField("savepoint", o.savepoint);
            g.writeStringField("device", o.device);
            g.writeObjectFieldStart("operators");
            for (String uid : OPERATORS) {
                g.writeObjectFieldStart(uid);
                g.writeBooleanField("inSavepoint", !absent.contains(uid));
                if (!absent.contains(uid)) {
                    String json = found.get(uid);
                    g.writeBooleanField("holdsDevice", json != null);
                    if (json != null) {
                        g.writeFieldName("state");
                        g.writeRawValue(json);
                    }
                }
                g.writeEndObject();
            }
            g.writeEndObject();
            g.writeEndObject();
        }));
    }

    /** Per operator and size bucket (bytes up to a power of two): devices and their bytes. */
    private static String fleetReport(
            Inspect.Options o, DataStream<Tuple3<String, Long, String>> all, List<String> absent) throws Exception {
        Map<String, TreeMap<Long, long[]>> buckets = new TreeMap<>();
        if (all != null) {
            DataStream<Tuple4<String, Long, Long, Long>> sums = all.map(
                            t -> Tuple4.of(t.f0, bucket(t.f1), 1L, t.f1),
                            Types.TUPLE(Types.STRING, Types.LONG, Types.LONG, Types.LONG))
                    .keyBy(t -> t.f0 + "/" + t.f1, Types.STRING)
                    .reduce((a, b) -> Tuple4.of(a.f0, a.f1, a.f2 + b.f2, a.f3 + b.f3));
            try (CloseableIterator<Tuple4<String, Long, Long, Long>> it =
                    sums.executeAndCollect("devicesync inspect (fleet)")) {
                while (it.hasNext()) {
                    Tuple4<String, Long, Long, Long> t = it.next();
                    buckets.computeIfAbsent(t.f0, k -> new TreeMap<>()).put(t.f1, new long[] {t.f2, t.f3});
                }
            }
        }
        return indent(Json.write(g -> {
            g.writeStartObject();
            g.writeStringField("savepoint", o.savepoint);
            g.writeObjectFieldStart("operators");
            for (String uid : OPERATORS) {
                g.writeObjectFieldStart(uid);
                g.writeBooleanField("inSavepoint", !absent.contains(uid));
                if (!absent.contains(uid)) writeFleet(g, buckets.getOrDefault(uid, new TreeMap<>()));
                g.writeEndObject();
            }
            g.writeEndObject();
            g.writeEndObject();
        }));
    }

    private static void writeFleet(JsonGenerator g, TreeMap<Long, long[]> buckets) throws IOException {
        long devices = 0;
        long bytes = 0;
        for (long[] b : buckets.values()) {
            devices += b[0];
            bytes += b[1];
        }
        g.writeNumberField("devices", devices);
        g.writeNumberField("bytes", bytes);
        g.writeArrayFieldStart("sizeHistogram");
        for (Map.Entry<Long, long[]> e : buckets.entrySet()) {
            g.writeStartObject();
            g.writeNumberField("bytesUpTo", e.getKey());
            g.writeNumberField("devices", e.getValue()[0]);
            g.writeEndObject();
        }
        g.writeEndArray();
    }

    /** The smallest power of two at or above {@code bytes} (at least 1): the histogram's buckets. */
    static long bucket(long bytes) {
        if (bytes <= 1) return 1;
        return Long.highestOneBit(bytes - 1) << 1;
    }

    static StateBackend backend(String name) {
        return name.equals("hashmap") ? new HashMapStateBackend() : new EmbeddedRocksDBStateBackend();
    }

    /** A local run, bounded (batch), bound to the loopback address, no web UI. */
    static Configuration localConfig() {
        Configuration c = new Configuration();
        c.set(ExecutionOptions.RUNTIME_MODE, RuntimeExecutionMode.BATCH);
        c.set(JobManagerOptions.BIND_HOST, "127.0.0.1");
        c.set(JobManagerOptions.ADDRESS, "127.0.0.1");
        c.set(TaskManagerOptions.BIND_HOST, "127.0.0.1");
        c.set(TaskManagerOptions.HOST, "127.0.0.1");
        c.set(RestOptions.BIND_ADDRESS, "127.0.0.1");
        c.set(RestOptions.ADDRESS, "127.0.0.1");
        return c;
    }

    /**
     * Compact JSON text indented for reading, every other byte as it is: strings and numbers keep
     * their text ({@code 21.50} stays {@code 21.50}), as the documents in the job's state do.
     */
    static String indent(byte[] compact) {
        String s = new String(compact, java.nio.charset.StandardCharsets.UTF_8);
        StringBuilder b = new StringBuilder(s.length() * 2);
        int depth = 0;
        boolean inString = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (inString) {
                b.append(c);
                if (c == '\\') b.append(s.charAt(++i));
                else if (c == '"') inString = false;
                continue;
            }
            switch (c) {
                case '"':
                    inString = true;
                    b.append(c);
                    break;
                case '{':
                case '[':
                    b.append(c);
                    char next = i + 1 < s.length() ? s.charAt(i + 1) : 0;
                    if (next == '}' || next == ']') {
                        b.append(next);
                        i++;
                    } else {
                        depth++;
                        newline(b, depth);
                    }
                    break;
                case '}':
                case ']':
                    depth--;
                    newline(b, depth);
                    b.append(c);
                    break;
                case ',':
                    b.append(c);
                    newline(b, depth);
                    break;
                case ':':
                    b.append(": ");
                    break;
                default:
                    b.append(c);
            }
        }
        return b.toString();
    }

    private static void newline(StringBuilder b, int depth) {
        b.append('\n');
        for (int i = 0; i < depth; i++) b.append("  ");
    }
}
