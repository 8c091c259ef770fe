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
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.configuration.HighAvailabilityOptions;
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
        Configuration c = GlobalConfiguration.loadConfiguration(
                Path.of("..", "flink-conf").toString());
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
        // The audits a jump of event time passes fire without holding the checkpoint barrier
        // (SequenceGuardOperator): Flink asks for both.
        assertTrue(CheckpointingOptions.isUnalignedCheckpointEnabled(c));
        assertTrue(CheckpointingOptions.isUnalignedCheckpointInterruptibleTimersEnabled(c));
        assertEquals(Duration.ofSeconds(1), c.get(CheckpointingOptions.ALIGNED_CHECKPOINT_TIMEOUT));
    }

    /** The job with its defaults is accepted on a cluster configured like config.yaml (its checkpoint interval, its transaction timeout). */
    @Test
    void theJobsDefaultsRunOnTheClusterConfiguration() {
        Configuration c = GlobalConfiguration.loadConfiguration(
                Path.of("..", "flink-conf").toString());
        org.apache.flink.streaming.api.environment.StreamExecutionEnvironment env =
                org.apache.flink.streaming.api.environment.StreamExecutionEnvironment.getExecutionEnvironment(c);
        DeviceSyncJob.configure(
                env,
                JobParameters.parse(
                        new String[] {"--kafka.bootstrap-servers", "b:9092", "--snapshot.url", "postgresql://db:5432/x"
                        },
                        Map.of()));
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
        Map<String, String> cluster = new TreeMap<>(GlobalConfiguration.loadConfiguration(
                        Path.of("..", "flink-conf").toString())
                .toMap());
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
        assertTrue(
                problems.isEmpty(),
                () -> "k8s/deployment.yaml spec.flinkConfiguration does not match" + " flink-conf/config.yaml:\n  "
                        + String.join("\n  ", problems));
    }

    /**
     * upgradeMode last-state restores the latest checkpoint from the HA metadata: it needs
     * Kubernetes HA with a storage directory of its own, and checkpoints kept when the operator
     * cancels the job (the operator's docs: "Checkpointing & HA Enabled").
     */
    @Test
    void k8sDeploymentUpgradesFromTheLatestCheckpointWithKubernetesHa() throws IOException {
        Map<String, Object> deployment = loadYamlMap(K8S_DEPLOYMENT);
        assertEquals("last-state", at(deployment, List.of("spec", "job", "upgradeMode")));
        assertEquals("running", at(deployment, List.of("spec", "job", "state")));
        Object allowNonRestored = at(deployment, List.of("spec", "job", "allowNonRestoredState"));
        assertTrue(
                allowNonRestored == null || Boolean.FALSE.equals(allowNonRestored),
                "allowNonRestoredState would drop the state of any operator the new job lacks: " + allowNonRestored);

        Map<String, String> flat = new TreeMap<>();
        flinkConfiguration(deployment).forEach((k, v) -> flat.put(String.valueOf(k), String.valueOf(v)));
        Configuration k8s = Configuration.fromMap(flat);
        assertEquals("kubernetes", k8s.get(HighAvailabilityOptions.HA_MODE));
        String haDir = k8s.get(HighAvailabilityOptions.HA_STORAGE_PATH);
        String checkpoints = k8s.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY);
        String savepoints = k8s.get(CheckpointingOptions.SAVEPOINT_DIRECTORY);
        for (String dir : new String[] {haDir, checkpoints, savepoints}) {
            assertTrue(
                    dir != null && dir.matches("(s3|s3a|s3p|gs|hdfs|abfss?|wasbs?|oss)://.+"),
                    "not on durable shared storage: " + dir);
        }
        assertEquals(
                3,
                Stream.of(haDir, checkpoints, savepoints).distinct().count(),
                "HA, checkpoints and savepoints need directories of their own: " + haDir + ", " + checkpoints + ", "
                        + savepoints);
        assertEquals(
                ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION,
                k8s.get(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION));
        assertTrue(k8s.get(CheckpointingOptions.CHECKPOINTING_INTERVAL) != null, "last-state needs checkpointing");

        Object tmMemory = at(deployment, List.of("spec", "taskManager", "resource", "memory"));
        Object tmCpu = at(deployment, List.of("spec", "taskManager", "resource", "cpu"));
        assertTrue(
                tmMemory != null && parseMemorySize(String.valueOf(tmMemory)) != null,
                "TaskManager memory: " + tmMemory);
        assertTrue(tmCpu instanceof Number && ((Number) tmCpu).doubleValue() > 0, "TaskManager cpu: " + tmCpu);
    }

    /**
     * The database credentials reach the job as the environment variables it reads
     * (JobParameters.ENV_USER, ENV_PASSWORD), each from a Kubernetes Secret; no password is in the
     * manifests, the job's arguments or its configuration.
     */
    @Test
    void k8sDatabaseCredentialsComeFromASecret() throws IOException {
        Map<String, Object> deployment = loadYamlMap(K8S_DEPLOYMENT);
        Map<String, String> envFromSecrets = new TreeMap<>();
        List<String> problems = new ArrayList<>();
        for (Map<?, ?> env : mainContainerEnv(deployment)) {
            String name = String.valueOf(env.get("name"));
            Object secretRef = at(env, List.of("valueFrom", "secretKeyRef"));
            if (secretRef instanceof Map
                    && ((Map<?, ?>) secretRef).get("name") != null
                    && ((Map<?, ?>) secretRef).get("key") != null) {
                // A stand-in for the secret's value: which key it is, never a value.
                envFromSecrets.put(name, "from-secret:" + ((Map<?, ?>) secretRef).get("key"));
            }
            if (env.containsKey("value") && SECRET_LOOKING.matcher(name).find()) {
                problems.add("env " + name + " has a plain value: take it from a Secret (valueFrom.secretKeyRef)");
            }
        }
        for (String name : List.of(JobParameters.ENV_USER, JobParameters.ENV_PASSWORD)) {
            if (!envFromSecrets.containsKey(name)) {
                problems.add("env " + name + " (what the job reads) is not taken from a Secret's key");
            }
        }
        List<String> args = jobArgs(deployment);
        for (String arg : args) {
            if (arg.equals("--snapshot.password")
                    || arg.equals("--snapshot.user")
                    || (arg.startsWith("--") && SECRET_LOOKING.matcher(arg).find())) {
                problems.add("job argument " + arg + ": credentials come from the Secret, not from args");
            }
            if (arg.matches("(?i)postgres(ql)?://[^/]*@.*") || arg.matches("(?i).*[?&]password=.*")) {
                problems.add("a database URL with credentials in the job's arguments");
            }
        }
        for (Object key : flinkConfiguration(deployment).keySet()) {
            if (SECRET_LOOKING.matcher(String.valueOf(key)).find()) {
                problems.add("flinkConfiguration carries " + key + ": take it from a Secret");
            }
        }
        try (Stream<Path> files = Files.list(Path.of("..", "k8s"))) {
            for (Path file : files.filter(
                            f -> f.toString().endsWith(".yaml") || f.toString().endsWith(".yml"))
                    .toList()) {
                String text = Files.readString(file);
                Matcher plain = PLAIN_PASSWORD.matcher(text);
                if (plain.find()) {
                    problems.add(file.getFileName() + " has a password in plain text at offset " + plain.start());
                }
                try (InputStream in = Files.newInputStream(file)) {
                    for (Object doc : new Load(LoadSettings.builder().build()).loadAllFromInputStream(in)) {
                        if (doc instanceof Map && "Secret".equals(((Map<?, ?>) doc).get("kind"))) {
                            problems.add(file.getFileName() + " holds a Secret: create it apart (README)");
                        }
                    }
                }
            }
        }
        assertTrue(problems.isEmpty(), () -> "k8s/ and its secrets:\n  " + String.join("\n  ", problems));

        // The arguments are job parameters the job accepts, and the Secret's values are what it uses.
        JobParameters p = JobParameters.parse(args.toArray(new String[0]), envFromSecrets);
        assertEquals("from-secret:user", p.snapshotUser);
        assertEquals("from-secret:password", p.snapshotPassword);
    }

    private static final String PROMETHEUS_FACTORY = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory";

    /**
     * Both configure Flink's Prometheus reporter (it ships in the distribution's
     * plugins/metrics-prometheus/), and the pods expose the port it binds: the first of its range,
     * since each JobManager or TaskManager runs alone in its pod.
     */
    @Test
    void prometheusReporterIsConfiguredAndItsPortExposed() throws IOException {
        Map<String, String> cluster = GlobalConfiguration.loadConfiguration(
                        Path.of("..", "flink-conf").toString())
                .toMap();
        Map<String, Object> deployment = loadYamlMap(K8S_DEPLOYMENT);
        Map<?, ?> k8s = flinkConfiguration(deployment);
        for (Map<?, ?> conf : List.of(cluster, k8s)) {
            assertEquals(PROMETHEUS_FACTORY, conf.get("metrics.reporter.prom.factory.class"));
            assertTrue(
                    String.valueOf(conf.get("metrics.reporter.prom.port")).matches("\\d+(-\\d+)?"),
                    "metrics.reporter.prom.port: a port or a range: " + conf.get("metrics.reporter.prom.port"));
            Object reporters = conf.get("metrics.reporters");
            assertTrue(
                    reporters == null || String.valueOf(reporters).matches("(.*,)?\\s*prom\\s*(,.*)?"),
                    "metrics.reporters leaves prom out: " + reporters);
        }
        int firstPort = Integer.parseInt(
                String.valueOf(k8s.get("metrics.reporter.prom.port")).split("-")[0]);

        Object containers = at(deployment, List.of("spec", "podTemplate", "spec", "containers"));
        Map<?, ?> main = mainContainer(containers);
        Object ports = main.get("ports");
        assertTrue(ports instanceof List, "flink-main-container declares no ports");
        boolean exposed = ((List<?>) ports)
                .stream()
                        .anyMatch(port -> port instanceof Map
                                && "metrics".equals(((Map<?, ?>) port).get("name"))
                                && Integer.valueOf(firstPort).equals(((Map<?, ?>) port).get("containerPort")));
        assertTrue(exposed, "no container port named metrics on " + firstPort);
        Object annotated =
                at(deployment, List.of("spec", "podTemplate", "metadata", "annotations", "prometheus.io/port"));
        assertTrue(
                annotated == null || String.valueOf(firstPort).equals(String.valueOf(annotated)),
                "prometheus.io/port " + annotated + " is not the reporter's " + firstPort);
    }

    private static final Path K8S_DEPLOYMENT = Path.of("..", "k8s", "deployment.yaml");

    /** Names of settings and variables that hold a secret. */
    private static final Pattern SECRET_LOOKING = Pattern.compile("(?i)password|passwd|secret|token|jaas|credential");

    /**
     * A password written out: {@code password: x}, {@code password=x}, {@code "password":"x"}
     * (YAML, properties, JSON, a JAAS line); a Secret's key {@code key: password} is a name, not one.
     */
    private static final Pattern PLAIN_PASSWORD =
            Pattern.compile("(?i)(password|passwd)[\"']?\\s*[:=]\\s*[\"']?[^\\s\"'{}]");

    private static Map<?, ?> flinkConfiguration(Map<String, Object> deployment) {
        Object flinkConfiguration = at(deployment, List.of("spec", "flinkConfiguration"));
        assertTrue(flinkConfiguration instanceof Map, "k8s/deployment.yaml has no spec.flinkConfiguration map");
        return (Map<?, ?>) flinkConfiguration;
    }

    private static Map<?, ?> mainContainer(Object containers) {
        assertTrue(containers instanceof List, "spec.podTemplate.spec.containers is not a list");
        return ((List<?>) containers)
                .stream()
                        .filter(c -> c instanceof Map && "flink-main-container".equals(((Map<?, ?>) c).get("name")))
                        .map(c -> (Map<?, ?>) c)
                        .findFirst()
                        .orElseThrow(() -> new AssertionError("no flink-main-container in spec.podTemplate"));
    }

    private static List<Map<?, ?>> mainContainerEnv(Map<String, Object> deployment) {
        Object env = mainContainer(at(deployment, List.of("spec", "podTemplate", "spec", "containers")))
                .get("env");
        assertTrue(env instanceof List, "flink-main-container has no env");
        return ((List<?>) env).stream().map(e -> (Map<?, ?>) e).collect(Collectors.toList());
    }

    private static List<String> jobArgs(Map<String, Object> deployment) {
        Object args = at(deployment, List.of("spec", "job", "args"));
        assertTrue(args instanceof List, "spec.job.args is not a list");
        return ((List<?>) args).stream().map(String::valueOf).collect(Collectors.toList());
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
        if (s.length() >= 2 && ((s.startsWith("\"") && s.endsWith("\"")) || (s.startsWith("'") && s.endsWith("'")))) {
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
