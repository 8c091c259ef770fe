package io.devicesync.tests.bench;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.Alerts;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import io.devicesync.operators.alerts.AlertPolicyFunction;
import io.devicesync.operators.alerts.AlertRouting;
import io.devicesync.operators.alerts.PolicyInput;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * Storm control under a storm (issue 17): {@code alerts} alerts of one type (the hot key: the
 * budget is one count for the whole job) through the AlertPolicy as the job wires it (routing,
 * keyBy type, the policy, at parallelism 2, RocksDB, checkpoints), and how fast they go through
 * it: a storm of 1,000,000 alerts in a minute needs 16,667 a second. Also what it published.
 */
final class AlertStormRun {
    private AlertStormRun() {}

    static String run(long alerts, Map<String, String> o, Path work) throws Exception {
        double[] rates = new double[2];
        long[] published = new long[2];
        for (int r = 0; r < 2; r++) { // the first warms the JIT
            BenchReporter.reset();
            StreamExecutionEnvironment env =
                    StreamExecutionEnvironment.createLocalEnvironment(2, Benchmark.flinkConf(o, work, "storm"));
            env.enableCheckpointing(Long.parseLong(o.get("checkpoint-interval")) * 1000);
            List<Alert> out = new java.util.concurrent.CopyOnWriteArrayList<>();
            long t = System.nanoTime();
            try (var it = env.fromSequence(1, alerts)
                    .map((MapFunction<Long, Alert>) AlertStormRun::alert, TypeInformation.of(Alert.class))
                    .flatMap(new AlertRouting(), TypeInformation.of(PolicyInput.class))
                    .keyBy(in -> in.key, Types.STRING)
                    .process(new AlertPolicyFunction(1000), TypeInformation.of(Alert.class))
                    .executeAndCollect("alert storm")) {
                it.forEachRemaining(out::add);
            }
            double s = (System.nanoTime() - t) / 1e9;
            rates[r] = alerts / s;
            published[r] = out.size();
        }
        return String.format(
                Locale.ROOT,
                "%nAlert storm: %,d RESYNC_FAILED alerts (one key) through the AlertPolicy (routing, keyBy"
                        + " type, policy; parallelism 2, RocksDB, exactly-once checkpoints every %s s), job start included: %,.0f alerts/s"
                        + " (%.0f x the 16,667/s of a million a minute), %,d published (the budget's 1,000 of each minute, and summaries);"
                        + " a cold run first: %,.0f alerts/s.%n",
                alerts,
                o.get("checkpoint-interval"),
                rates[1],
                rates[1] / 16_667.0,
                published[1],
                rates[0]);
    }

    private static Alert alert(long i) {
        return Alerts.of(AlertType.RESYNC_FAILED, Severity.WARNING)
                .device(String.format(Locale.ROOT, "dev-%07d", i))
                .cause("database lookup failed")
                .strategy(Strategy.RETRY_ON_AUDIT)
                .detail("failures", 1)
                .ts(i)
                .build(Long.toString(i));
    }
}
