package io.devicesync.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.util.TimeUtils;
import org.junit.jupiter.api.Test;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;

/**
 * flink-conf/config.yaml says what the job relies on, in keys Flink 2.2 actually reads, and
 * k8s/deployment.yaml carries the same settings to the Flink Kubernetes Operator.
 */
class FlinkConfTest {

    @Test
    void clusterConfigurationHasWhatTheJobRelieson() {
        Configuration c = GlobalConfiguration.loadConfiguration(Path.of("..", "flink-conf").toString());
        assertEquals("rocksdb", c.get(StateBackendOptions.STATE_BACKEND));
        assertTrue(c.get(CheckpointingOptions.INCREMENTAL_CHECKPOINTS));
        assertEquals(CheckpointingMode.EXACTLY_ONCE, c.get(CheckpointingOptions.CHECKPOINTING_CONSISTENCY_MODE));
        assertEquals(Duration.ofSeconds(30), c.get(CheckpointingOptions.CHECKPOINTING_INTERVAL));
        assertTrue(c.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY).contains("checkpoints"));
        assertTrue(c.get(CheckpointingOptions.SAVEPOINT_DIRECTORY).contains("savepoints"));
        assertTrue(c.get(CheckpointingOptions.CHECKPOINTING_TIMEOUT).toMillis()
                < Long.parseLong(io.devicesync.sinks.KafkaSinks.DEFAULT_TRANSACTION_TIMEOUT_MS));
        assertEquals("exponential-delay", c.get(RestartStrategyOptions.RESTART_STRATEGY));
        assertFalse(c.get(PipelineOptions.GENERIC_TYPES));
    }

    /** The job with its defaults is accepted on a cluster configured like config.yaml (its checkpoint interval, its transaction timeout). */
    @Test
    void theJobsDefaultsRunOnTheClusterConfiguration() {
        Configuration c = GlobalConfiguration.loadConfiguration(Path.of("..", "flink-conf").toString());
        org.apache.flink.streaming.api.environment.StreamExecutionEnvironment env =
                org.apache.flink.streaming.api.environment.StreamExecutionEnvironment.getExecutionEnvironment(c);
        DeviceSyncJob.configure(env, JobParameters.parse(new String[] {"--kafka.bootstrap-servers", "b:9092",
                "--snapshot.url", "postgresql://db:5432/x"}, Map.of()));
        assertEquals(30_000, env.getCheckpointConfig().getCheckpointInterval());
    }

    /**
     * Keys of config.yaml that the operator derives from the FlinkDeployment's resource specs
     * rather than from spec.flinkConfiguration: when the resource's memory is set, it overwrites the
     * key with it, so flinkConfiguration may leave the key out. Either the key or the resource must
     * be there, and whichever is there must give the same size as config.yaml.
     */
    private static final Map<String, List<String>> SET_FROM_RESOURCE_SPEC = Map.of(
            "taskmanager.memory.process.size", List.of("spec", "taskManager", "resource", "memory"),
            "jobmanager.memory.process.size", List.of("spec", "jobManager", "resource", "memory"));

    /**
     * Prefixes of keys that only the Kubernetes deployment has: Kubernetes HA needs a
     * high-availability.storageDir the standalone config.yaml does not.
     */
    private static final List<String> ONLY_IN_DEPLOYMENT = List.of("high-availability.");

    @Test
    void k8sDeploymentCarriesEveryClusterSetting() throws IOException {
        Map<String, String> cluster = new TreeMap<>(
                GlobalConfiguration.loadConfiguration(Path.of("..", "flink-conf").toString()).toMap());
        Map<String, Object> deployment = loadYamlMap(Path.of("..", "k8s", "deployment.yaml"));
        Object flinkConfiguration = at(deployment, List.of("spec", "flinkConfiguration"));
        assertTrue(flinkConfiguration instanceof Map, "k8s/deployment.yaml has no spec.flinkConfiguration map");
        Map<?, ?> k8s = (Map<?, ?>) flinkConfiguration;

        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, String> e : cluster.entrySet()) {
            String key = e.getKey();
            String expected = e.getValue();
            List<String> resourcePath = SET_FROM_RESOURCE_SPEC.get(key);
            Object resource = resourcePath == null ? null : at(deployment, resourcePath);
            if (resource != null && !sameMemorySize(expected, String.valueOf(resource))) {
                problems.add("different: " + key + " is " + expected + " in config.yaml but "
                        + String.join(".", resourcePath) + " (which the operator sets it from) is " + resource);
            }
            if (k8s.containsKey(key)) {
                Object actual = k8s.get(key);
                if (!sameValue(expected, String.valueOf(actual))) {
                    problems.add("different: " + key + " is " + expected + " in config.yaml but " + actual
                            + " in k8s/deployment.yaml");
                }
            } else if (resourcePath == null) {
                problems.add("missing: " + key + " (config.yaml has " + expected + ")");
            } else if (resource == null) {
                problems.add("missing: " + key + " is in neither spec.flinkConfiguration nor "
                        + String.join(".", resourcePath));
            }
        }
        for (Map.Entry<?, ?> e : k8s.entrySet()) {
            String key = String.valueOf(e.getKey());
            if (!cluster.containsKey(key) && ONLY_IN_DEPLOYMENT.stream().noneMatch(key::startsWith)) {
                problems.add("only in k8s/deployment.yaml: " + key);
            }
            // The operator's CRD declares flinkConfiguration as a map of strings: an unquoted
            // true, 2 or 0.5 is a YAML boolean or number there, not a string.
            if (!(e.getValue() instanceof String)) {
                problems.add("not a YAML string (quote it): " + key + ": " + e.getValue());
            }
        }
        assertTrue(problems.isEmpty(), () -> "k8s/deployment.yaml spec.flinkConfiguration does not match"
                + " flink-conf/config.yaml:\n  " + String.join("\n  ", problems));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> loadYamlMap(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            Object root = new Load(LoadSettings.builder().build()).loadFromInputStream(in);
            assertTrue(root instanceof Map, file + " is not a YAML mapping");
            return (Map<String, Object>) root;
        }
    }

    private static Object at(Map<?, ?> root, List<String> path) {
        Object node = root;
        for (String step : path) {
            if (!(node instanceof Map)) {
                return null;
            }
            node = ((Map<?, ?>) node).get(step);
        }
        return node;
    }

    /**
     * Whether two configuration values mean the same: equal after trimming and unquoting, or
     * equal as booleans (ignoring case), durations ("30 s" = "30s"), memory sizes ("4g" = "4096m")
     * or numbers ("2" = "2.0"), under any of these readings that parses both.
     */
    private static boolean sameValue(String a, String b) {
        a = unquote(a);
        b = unquote(b);
        if (a.equals(b)) {
            return true;
        }
        if (isBoolean(a) && isBoolean(b)) {
            return a.equalsIgnoreCase(b);
        }
        Duration da = parseDuration(a);
        Duration db = parseDuration(b);
        if (da != null && da.equals(db)) {
            return true;
        }
        if (sameMemorySize(a, b)) {
            return true;
        }
        BigDecimal na = parseNumber(a);
        BigDecimal nb = parseNumber(b);
        return na != null && nb != null && na.compareTo(nb) == 0;
    }

    private static boolean sameMemorySize(String a, String b) {
        MemorySize ma = parseMemorySize(unquote(a));
        return ma != null && ma.equals(parseMemorySize(unquote(b)));
    }

    private static String unquote(String s) {
        s = s.trim();
        if (s.length() >= 2
                && ((s.startsWith("\"") && s.endsWith("\"")) || (s.startsWith("'") && s.endsWith("'")))) {
            s = s.substring(1, s.length() - 1).trim();
        }
        return s;
    }

    private static boolean isBoolean(String s) {
        return s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false");
    }

    private static Duration parseDuration(String s) {
        try {
            return TimeUtils.parseDuration(s);
        } catch (RuntimeException notADuration) {
            return null;
        }
    }

    private static MemorySize parseMemorySize(String s) {
        try {
            return MemorySize.parse(s);
        } catch (RuntimeException notAMemorySize) {
            return null;
        }
    }

    private static BigDecimal parseNumber(String s) {
        try {
            return new BigDecimal(s);
        } catch (NumberFormatException notANumber) {
            return null;
        }
    }
}
