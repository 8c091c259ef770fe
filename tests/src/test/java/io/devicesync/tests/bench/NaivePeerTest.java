package io.devicesync.tests.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.devicesync.tests.sim.DeviceSimulator;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;

/** The benchmark's naive peer computes what devicesync publishes on clean input: a fair yardstick. */
class NaivePeerTest {
    @Test
    void itsGraphBuilds() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        NaivePeer.build(env, "localhost:9092", "events", "state", "group", "naive");
        List<String> names = new ArrayList<>();
        env.getStreamGraph().getStreamNodes().forEach(n -> names.add(n.getOperatorName()));
        assertTrue(names.stream().anyMatch(n -> n.contains("Merge")), names.toString());
    }

    @Test
    void itsMergeOfTheSimulatorsIncrementsIsEachDevicesTrueState() throws Exception {
        DeviceSimulator.Options o = new DeviceSimulator.Options();
        o.devices = 50;
        o.duplicateRate = 0.05; // duplicates are what the peer drops
        o.reorderRate = 0;
        o.malformedRate = 0;
        DeviceSimulator sim = new DeviceSimulator(o);
        ObjectMapper mapper = new ObjectMapper();
        Map<String, long[]> versions = new HashMap<>();
        Map<String, ObjectNode> docs = new HashMap<>();
        DeviceSimulator.Batch last = null;
        for (int b = 0; b < 20; b++) {
            last = sim.next(500, 1_000_000L + b);
            for (DeviceSimulator.WireRecord w : last.wire) {
                NaivePeer.Event e = NaivePeer.Parse.parse(mapper, w.value);
                long[] v = versions.get(e.deviceId);
                if (v != null && (e.epoch < v[0] || (e.epoch == v[0] && e.seq <= v[1]))) continue;
                versions.put(e.deviceId, new long[] {e.epoch, e.seq});
                ObjectNode doc = docs.computeIfAbsent(e.deviceId, k -> mapper.createObjectNode());
                NaivePeer.Merge.merge(doc, mapper.readTree(e.data));
            }
        }
        int checked = 0;
        for (DeviceSimulator.Device d : sim.devices()) {
            if (!docs.containsKey(d.id)) continue;
            assertEquals(d.state, docs.get(d.id), d.id);
            assertEquals(d.seq, versions.get(d.id)[1], d.id);
            checked++;
        }
        assertEquals(50, checked, "every device spoke");
    }
}
