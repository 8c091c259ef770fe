package io.devicesync.tests.bench;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;

/**
 * A metric reporter for the benchmark's in-process MiniCluster: it keeps the counters the job
 * and the JobManager register (counters and gauges), by name, so that the benchmark reads them
 * without a REST round trip.
 */
public final class BenchReporter implements MetricReporter {
    private static final Map<String, List<Counter>> COUNTERS = new ConcurrentHashMap<>();
    private static final Map<String, List<Gauge<?>>> GAUGES = new ConcurrentHashMap<>();
    /** Task-level gauges by "metric|task name" (busy time: which task limits the run). */
    private static final Map<String, List<Gauge<?>>> TASK_GAUGES = new ConcurrentHashMap<>();

    /** Metrics of a consumer by "name|consumer", then by subtask index. */
    private static final Map<String, Map<Integer, Metric>> BY_CONSUMER_AND_SUBTASK = new ConcurrentHashMap<>();

    /**
     * The value of each subtask's metric {@code name} of {@code consumer} (a counter's count or a
     * gauge's number), by subtask index; the operator is whichever registers it.
     */
    public static Map<Integer, Long> perSubtask(String name, String consumer) {
        Map<Integer, Long> out = new java.util.TreeMap<>();
        BY_CONSUMER_AND_SUBTASK.getOrDefault(name + "|" + consumer, Map.of()).forEach((subtask, m) -> {
            if (m instanceof Counter c) out.put(subtask, c.getCount());
            if (m instanceof Gauge<?> g && g.getValue() instanceof Number n) out.put(subtask, n.longValue());
        });
        return out;
    }

    /** The sum over all subtasks of the counters named {@code name}. */
    public static long sum(String name) {
        long n = 0;
        for (Counter c : COUNTERS.getOrDefault(name, List.of())) n += c.getCount();
        return n;
    }

    /** The largest numeric value of the gauges named {@code name}; -1 when there is none (yet). */
    public static long gaugeMax(String name) {
        long max = -1;
        for (Gauge<?> g : GAUGES.getOrDefault(name, List.of())) {
            Object v = g.getValue();
            if (v instanceof Number n) max = Math.max(max, n.longValue());
        }
        return max;
    }

    /** For each task, the average over its subtasks of the task gauge {@code name}. */
    public static Map<String, Double> perTask(String name) {
        Map<String, Double> out = new java.util.TreeMap<>();
        TASK_GAUGES.forEach((k, gauges) -> {
            if (!k.startsWith(name + "|")) return;
            double sum = 0;
            int n = 0;
            for (Gauge<?> g : gauges) {
                if (g.getValue() instanceof Number v && !Double.isNaN(v.doubleValue())) {
                    sum += v.doubleValue();
                    n++;
                }
            }
            if (n > 0) out.put(k.substring(name.length() + 1), sum / n);
        });
        return out;
    }

    /** Forgets every metric (between runs). */
    public static void reset() {
        COUNTERS.clear();
        GAUGES.clear();
        BY_CONSUMER_AND_SUBTASK.clear();
        TASK_GAUGES.clear();
    }

    @Override
    public void open(MetricConfig config) {}

    @Override
    public void close() {}

    @Override
    public void notifyOfAddedMetric(Metric metric, String name, MetricGroup group) {
        Map<String, String> vars = group.getAllVariables();
        String consumer = vars.get("<consumer>");
        String subtask = vars.get("<subtask_index>");
        if (consumer != null && subtask != null) {
            BY_CONSUMER_AND_SUBTASK
                    .computeIfAbsent(name + "|" + consumer, k -> new ConcurrentHashMap<>())
                    .put(Integer.parseInt(subtask), metric);
        }
        if (metric instanceof Counter c)
            COUNTERS.computeIfAbsent(name, k -> new CopyOnWriteArrayList<>()).add(c);
        if (metric instanceof Gauge<?> g) {
            GAUGES.computeIfAbsent(name, k -> new CopyOnWriteArrayList<>()).add(g);
            String task = group.getAllVariables().get("<task_name>");
            if (task != null && group.getAllVariables().get("<operator_name>") == null) {
                TASK_GAUGES
                        .computeIfAbsent(name + "|" + task, k -> new CopyOnWriteArrayList<>())
                        .add(g);
            }
        }
    }

    @Override
    public void notifyOfRemovedMetric(Metric metric, String name, MetricGroup group) {}

    /** Named in the MiniCluster's configuration: {@code metrics.reporter.bench.factory.class}. */
    public static final class Factory implements MetricReporterFactory {
        @Override
        public MetricReporter createMetricReporter(Properties properties) {
            return new BenchReporter();
        }
    }
}
