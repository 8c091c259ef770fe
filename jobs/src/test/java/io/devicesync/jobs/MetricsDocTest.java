package io.devicesync.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.flink.metrics.CharacterFilter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.groups.AbstractMetricGroup;
import org.apache.flink.runtime.metrics.groups.UnregisteredMetricGroups;
import org.junit.jupiter.api.Test;

/**
 * The README's metric table ("Metrics", "In Prometheus") names every metric the job registers, by
 * the name Flink's Prometheus reporter gives it, and the job adds no label that grows with the
 * fleet. The registrations are read from the sources, so the table cannot drift from the code.
 */
class MetricsDocTest {

    /** Where the job's code is: every module that ships in the job jar. */
    private static final List<Path> SOURCES = Stream.of("model", "sources", "operators", "sinks", "jobs")
            .map(m -> Path.of("..", m, "src", "main", "java"))
            .toList();

    private static final Path README = Path.of("..", "README.md");

    /**
     * The keys of the job's key/value metric groups, each a label in Prometheus, and why its values
     * are few: none of them is per device.
     */
    private static final Map<String, String> BOUNDED_GROUPS = Map.of(
            "consumer", "the consumers listed in --delivery.consumers",
            "reason", "the contract's rejection reasons (RejectReason)",
            "alertType", "the alert types (AlertType)");

    /** {@code .counter("name"}, {@code .gauge(name}, …: a registration and its first argument. */
    private static final Pattern REGISTRATION =
            Pattern.compile("\\.(counter|gauge|meter|histogram)\\(\\s*(\"([^\"]*)\"|[A-Za-z_][A-Za-z0-9_.]*)");

    /** Any group added to a metric group: {@code addGroup("key", value)} or {@code addGroup(name)}. */
    private static final Pattern ADD_GROUP = Pattern.compile("\\.addGroup\\(\\s*([^,)]*)\\s*(,)?");

    /** The Router subclasses pass their two metric names to Router's constructor. */
    private static final Pattern ROUTER_NAMES = Pattern.compile("super\\(\\s*\"([^\"]+)\"\\s*,\\s*\"([^\"]+)\"\\s*\\)");

    /** What the reporter replaces with '_' (AbstractPrometheusReporter's rule). */
    private static final Pattern NOT_IN_PROMETHEUS_NAMES = Pattern.compile("[^a-zA-Z0-9:_]");

    private static final CharacterFilter PROMETHEUS_FILTER =
            input -> NOT_IN_PROMETHEUS_NAMES.matcher(input).replaceAll("_");

    @Test
    void readmeListsEveryRegisteredMetricByItsPrometheusName() throws IOException {
        Set<String> registered = registeredMetricNames();
        assertTrue(registered.size() > 40, "found only " + registered + ": is the scan still right?");

        String operatorPrefix = prometheusPrefix(UnregisteredMetricGroups.createUnregisteredOperatorMetricGroup());
        assertEquals(
                "flink_taskmanager_job_task_operator_",
                operatorPrefix,
                "Flink's operator scope changed: the README's names and alert rules need it");
        Set<String> groupPrefixes = new TreeSet<>();
        groupPrefixes.add(operatorPrefix);
        for (String key : BOUNDED_GROUPS.keySet()) {
            MetricGroup group = UnregisteredMetricGroups.createUnregisteredOperatorMetricGroup()
                    .addGroup(key, "any");
            groupPrefixes.add(prometheusPrefix(group));
        }

        String readme = Files.readString(README);
        String table = metricsTable(readme);
        Set<String> documented = new TreeSet<>();
        Matcher names = Pattern.compile("`(flink_[A-Za-z0-9_:]+)`").matcher(table);
        while (names.find()) documented.add(names.group(1));

        List<String> problems = new ArrayList<>();
        for (String metric : registered) {
            boolean listed = groupPrefixes.stream().anyMatch(prefix -> documented.contains(prefix + metric));
            if (!listed) problems.add("registered but not in the README's Prometheus table: " + metric);
        }
        // Every name the README uses for the job's operators (the table, the alert rules, the
        // examples) is one the reporter will show.
        Matcher used = Pattern.compile("flink_taskmanager_job_task_operator_[A-Za-z0-9_:]+")
                .matcher(readme);
        while (used.find()) {
            String name = used.group();
            String base = name.endsWith("_count") ? name.substring(0, name.length() - "_count".length()) : name;
            boolean known = groupPrefixes.stream()
                    .anyMatch(
                            prefix -> base.startsWith(prefix) && registered.contains(base.substring(prefix.length())));
            if (!known) problems.add("in the README but registered by no code: " + name);
        }
        assertTrue(problems.isEmpty(), () -> String.join("\n", problems));
    }

    @Test
    void noMetricGroupGrowsWithTheFleet() throws IOException {
        List<String> problems = new ArrayList<>();
        for (Path file : javaFiles()) {
            Matcher m = ADD_GROUP.matcher(Files.readString(file));
            while (m.find()) {
                String key = m.group(1).trim();
                if (m.group(2) == null) {
                    problems.add(file.getFileName() + ": addGroup(" + key + ") without a key: a name per value");
                } else if (!key.matches("\"[A-Za-z0-9_]+\"")
                        || !BOUNDED_GROUPS.containsKey(key.substring(1, key.length() - 1))) {
                    problems.add(file.getFileName() + ": addGroup(" + key + ", …): a label this test does not know"
                            + " to be bounded (known: " + BOUNDED_GROUPS + ")");
                }
            }
        }
        assertTrue(problems.isEmpty(), () -> String.join("\n", problems));
    }

    /** The metric names the job's code registers. */
    private static Set<String> registeredMetricNames() throws IOException {
        Set<String> names = new TreeSet<>();
        List<String> unresolved = new ArrayList<>();
        for (Path file : javaFiles()) {
            String text = Files.readString(file);
            Matcher m = REGISTRATION.matcher(text);
            while (m.find()) {
                if (m.group(3) != null) {
                    names.add(m.group(3));
                } else if (!file.getFileName().toString().equals("Router.java")) {
                    unresolved.add(
                            file.getFileName() + ": " + m.group() + " (a name this test cannot read: extend it)");
                }
            }
            if (text.contains("extends Router<")) {
                Matcher r = ROUTER_NAMES.matcher(text);
                assertTrue(r.find(), file + " extends Router without naming its metrics in super(…)");
                names.add(r.group(1));
                names.add(r.group(2));
            }
        }
        assertTrue(unresolved.isEmpty(), () -> String.join("\n", unresolved));
        for (String name : names) {
            // The reporter keeps such names as they are, and the README's names split at the last '_'.
            assertFalse(
                    NOT_IN_PROMETHEUS_NAMES.matcher(name).find() || name.contains("_"),
                    "metric name " + name + " would be rewritten by the Prometheus reporter");
        }
        return names;
    }

    /**
     * {@code flink_} + the group's logical scope + {@code _}: AbstractPrometheusReporter#getScopedName.
     * The reporter asks the FrontMetricGroup it is handed, which asks the group itself, as here.
     */
    private static String prometheusPrefix(MetricGroup group) {
        return "flink_" + ((AbstractMetricGroup<?>) group).getLogicalScope(PROMETHEUS_FILTER, '_') + "_";
    }

    /** The README's table of Prometheus names: the part of "## Metrics" that names them. */
    private static String metricsTable(String readme) {
        int metrics = readme.indexOf("\n## Metrics");
        assertTrue(metrics >= 0, "README has no Metrics section");
        int end = readme.indexOf("\n## ", metrics + 1);
        return readme.substring(metrics, end < 0 ? readme.length() : end);
    }

    private static List<Path> javaFiles() throws IOException {
        List<Path> files = new ArrayList<>();
        for (Path root : SOURCES) {
            if (!Files.isDirectory(root)) continue;
            try (Stream<Path> walk = Files.walk(root)) {
                walk.filter(f -> f.toString().endsWith(".java")).forEach(files::add);
            }
        }
        assertFalse(files.isEmpty(), "no sources found under " + SOURCES);
        return files;
    }
}
