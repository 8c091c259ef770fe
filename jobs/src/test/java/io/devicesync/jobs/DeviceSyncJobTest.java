package io.devicesync.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;

class DeviceSyncJobTest {
    private static final JobParameters PARAMS = JobParameters.parse(
            new String[] {"--kafka.bootstrap-servers", "b:9092", "--snapshot.url", "postgresql://db:5432/x"}, Map.of());

    @Test
    void fixesTheMaxParallelismSoThatEverySavepointRescales() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DeviceSyncJob.configure(env, PARAMS);
        assertEquals(720, env.getMaxParallelism());
        assertEquals(
                0,
                720 % 2 + 720 % 3 + 720 % 4 + 720 % 5 + 720 % 6 + 720 % 8 + 720 % 9 + 720 % 10 + 720 % 12 + 720 % 16,
                "devices spread evenly over the usual parallelisms");
        assertTrue(
                env.getCheckpointConfig().isCheckpointingEnabled(), "checkpointing on when the cluster did not set it");
    }

    @Test
    void keepsAMaxParallelismTheClusterConfigured() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(
                new Configuration().set(PipelineOptions.MAX_PARALLELISM, 256));
        DeviceSyncJob.configure(env, PARAMS);
        assertEquals(256, env.getMaxParallelism());
    }

    @Test
    void deliveryTrackingIsWiredOnlyWhenConsumersAreListedAndReadsTheReconcilerKeyedAsItIs() {
        StreamExecutionEnvironment off = StreamExecutionEnvironment.getExecutionEnvironment();
        DeviceSyncJob.configure(off, PARAMS);
        DeviceSyncJob.build(off, PARAMS);
        var offNodes = off.getStreamGraph().getStreamNodes();
        assertTrue(
                offNodes.stream().noneMatch(n -> n.getOperatorName().contains("Delivery")), "tracking off by default");

        JobParameters on = params("--delivery.consumers", "billing,dashboard");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DeviceSyncJob.configure(env, on);
        DeviceSyncJob.build(env, on);
        var graph = env.getStreamGraph();
        var nodes = graph.getStreamNodes();
        var tracker = nodes.stream()
                .filter(n -> n.getOperatorName().equals("DeliveryTracker"))
                .findFirst()
                .orElseThrow();
        var reconciler = nodes.stream()
                .filter(n -> n.getOperatorName().equals("DeviceSync"))
                .findFirst()
                .orElseThrow();
        assertEquals(Uids.DELIVERY_TRACKER, tracker.getTransformationUID());
        var fromReconciler = tracker.getInEdges().stream()
                .filter(e -> e.getSourceId() == reconciler.getId())
                .findFirst()
                .orElseThrow();
        assertEquals(
                "HASH",
                fromReconciler.getPartitioner().toString(),
                "same key and parallelism: each version stays on its subtask, over a keyed (not pointwise) edge");
        for (var in : tracker.getInEdges()) {
            // A task with one pointwise input checkpoints all its inputs aligned: the barrier would
            // wait behind the versions in flight and the tracker's loop of passed timers.
            assertTrue(in.supportsUnalignedCheckpoints(), "the tracker's input " + in + " may go unaligned");
        }
        for (String uid : new String[] {
            Uids.SOURCE_ACKS,
            Uids.ACK_ROUTER,
            Uids.REDISPATCH_SCHEDULER_BY_DEVICE,
            Uids.REDISPATCH_SCHEDULER,
            Uids.SINK_REDISPATCH,
            Uids.SINK_REDISPATCH_DLQ
        }) {
            assertTrue(nodes.stream().anyMatch(n -> uid.equals(n.getTransformationUID())), uid);
        }
        var scheduler = nodes.stream()
                .filter(n -> n.getOperatorName().equals("RedispatchScheduler"))
                .findFirst()
                .orElseThrow();
        assertEquals(1, scheduler.getInEdges().size());
        assertEquals(tracker.getId(), scheduler.getInEdges().get(0).getSourceId());
        assertEquals(
                "FORWARD",
                scheduler.getInEdges().get(0).getPartitioner().toString(),
                "keyed by device as the tracker: no shuffle, no consumer as a key");
        var backlog = nodes.stream()
                .filter(n -> n.getOperatorName().equals("DeliveryBacklog"))
                .findFirst()
                .orElseThrow();
        assertEquals("HASH", backlog.getInEdges().get(0).getPartitioner().toString());
        assertEquals(
                Uids.REDISPATCH_SCHEDULER,
                backlog.getTransformationUID(),
                "keyed by consumer as the earlier scheduler was: its BACKLOG state restores into it");
    }

    /** RocksDB with heap timers would keep the redispatch queues out of checkpoints: refused with delivery. */
    @Test
    void heapTimersOnRocksDbAreRefusedWithDelivery() {
        Configuration cluster = new Configuration();
        cluster.setString("state.backend.type", "rocksdb");
        cluster.setString("state.backend.rocksdb.timer-service.factory", "HEAP");
        JobParameters on = params("--delivery.consumers", "billing");
        var e = org.junit.jupiter.api.Assertions.assertThrows(
                IllegalArgumentException.class,
                () -> DeviceSyncJob.configure(StreamExecutionEnvironment.getExecutionEnvironment(cluster), on));
        assertTrue(
                e.getMessage()
                        .startsWith("--delivery.consumers: the cluster's"
                                + " state.backend.rocksdb.timer-service.factory is HEAP"),
                e.getMessage());
        DeviceSyncJob.configure(StreamExecutionEnvironment.getExecutionEnvironment(cluster), params());
    }

    /** The budget is split over the subtasks: one below the parallelism is refused, by name. */
    @Test
    void aRedispatchBudgetBelowTheParallelismIsRefused() {
        JobParameters low =
                params("--delivery.consumers", "billing,dashboard", "--delivery.consumer.dashboard.rate", "3");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(4);
        DeviceSyncJob.configure(env, low);
        var e = org.junit.jupiter.api.Assertions.assertThrows(
                IllegalArgumentException.class, () -> DeviceSyncJob.build(env, low));
        assertTrue(
                e.getMessage()
                        .startsWith("--redispatch.rate (or --delivery.consumer.dashboard.rate): dashboard's"
                                + " budget of 3 redispatches a second is below the job's parallelism 4"),
                e.getMessage());
    }

    /**
     * The guard and the tracker run in operators whose timers Flink may interrupt (with
     * interruptible timers configured): each must say so and take the task's mailbox, without which
     * Flink's watermark processor fails at open.
     */
    @Test
    void theGuardsAndTheTrackersTimersMayBeInterrupted() {
        JobParameters on = params("--delivery.consumers", "billing");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DeviceSyncJob.configure(env, on);
        DeviceSyncJob.build(env, on);
        var nodes = env.getStreamGraph().getStreamNodes();
        for (String name : new String[] {"DeviceSync", "DeliveryTracker"}) {
            var node = nodes.stream()
                    .filter(n -> n.getOperatorName().equals(name))
                    .findFirst()
                    .orElseThrow();
            var operator = ((org.apache.flink.streaming.api.operators.SimpleOperatorFactory<?>)
                            node.getOperatorFactory())
                    .getOperator();
            assertTrue(operator instanceof org.apache.flink.streaming.api.operators.YieldingOperator, name);
            assertTrue(
                    ((org.apache.flink.streaming.api.operators.AbstractStreamOperator<?>) operator)
                            .useInterruptibleTimers(),
                    name);
        }
    }

    /** With the bootstrap the job checkpoints aligned, whatever the cluster says (see alignedWithABootstrap). */
    @Test
    void aBootstrapRunCheckpointsAligned() {
        JobParameters withBootstrap = params("--bootstrap.from-database", "true");
        Configuration cluster = new Configuration()
                .set(org.apache.flink.configuration.CheckpointingOptions.ENABLE_UNALIGNED, true)
                .set(org.apache.flink.configuration.CheckpointingOptions.ENABLE_UNALIGNED_INTERRUPTIBLE_TIMERS, true);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(cluster);
        DeviceSyncJob.configure(env, withBootstrap);
        assertTrue(env.getCheckpointConfig().isUnalignedCheckpointsEnabled());
        DeviceSyncJob.build(env, withBootstrap);
        assertFalse(env.getCheckpointConfig().isUnalignedCheckpointsEnabled());

        StreamExecutionEnvironment without = StreamExecutionEnvironment.getExecutionEnvironment(cluster);
        DeviceSyncJob.configure(without, PARAMS);
        DeviceSyncJob.build(without, PARAMS);
        assertTrue(without.getCheckpointConfig().isUnalignedCheckpointsEnabled(), "the cluster's setting otherwise");
    }

    @Test
    void checkpointsAsTheSinksDeliverAndPassesRecordsWithoutCopies() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DeviceSyncJob.configure(env, PARAMS);
        assertEquals(
                org.apache.flink.core.execution.CheckpointingMode.EXACTLY_ONCE,
                env.getCheckpointConfig().getCheckpointingConsistencyMode());
        assertTrue(env.getConfig().isObjectReuseEnabled());

        JobParameters atLeastOnce = params("--sink.delivery-guarantee", "at-least-once");
        StreamExecutionEnvironment alos = StreamExecutionEnvironment.getExecutionEnvironment();
        DeviceSyncJob.configure(alos, atLeastOnce);
        assertEquals(
                org.apache.flink.core.execution.CheckpointingMode.AT_LEAST_ONCE,
                alos.getCheckpointConfig().getCheckpointingConsistencyMode());
    }

    private static JobParameters params(String... extra) {
        java.util.List<String> a = new java.util.ArrayList<>(
                java.util.List.of("--kafka.bootstrap-servers", "b:9092", "--snapshot.url", "postgresql://db:5432/x"));
        a.addAll(java.util.List.of(extra));
        return JobParameters.parse(a.toArray(new String[0]), Map.of());
    }

    private static StreamExecutionEnvironment clusterCheckpointingEvery(java.time.Duration interval) {
        return StreamExecutionEnvironment.getExecutionEnvironment(new Configuration()
                .set(org.apache.flink.configuration.CheckpointingOptions.CHECKPOINTING_INTERVAL, interval));
    }

    private static String refusal(StreamExecutionEnvironment env, JobParameters p) {
        return org.junit.jupiter.api.Assertions.assertThrows(
                        IllegalArgumentException.class, () -> DeviceSyncJob.configure(env, p))
                .getMessage();
    }

    /**
     * A 10-minute checkpoint interval with the default 10-minute transaction timeout: the broker
     * would abort every transaction (and the job restart). Refused at submission, by name, whether
     * the interval is the cluster's or the job's own.
     */
    @Test
    void refusesATransactionTimeoutThatACheckpointIntervalAndARecoveryWouldOutlast() {
        String cluster = refusal(clusterCheckpointingEvery(java.time.Duration.ofMinutes(10)), PARAMS);
        assertTrue(cluster.startsWith("--kafka.transaction.timeout.ms:"), cluster);
        assertTrue(
                cluster.contains("execution.checkpointing.interval"), "says where the interval comes from: " + cluster);
        String own = refusal(
                StreamExecutionEnvironment.getExecutionEnvironment(), params("--checkpoint.interval", "10 min"));
        assertTrue(own.startsWith("--kafka.transaction.timeout.ms:") && own.contains("--checkpoint.interval"), own);
        // Room for a recovery: twice the interval plus a minute. Just below it is refused too.
        String justBelow = refusal(
                clusterCheckpointingEvery(java.time.Duration.ofMinutes(10)),
                params("--kafka.transaction.timeout.ms", "1259999"));
        assertTrue(justBelow.startsWith("--kafka.transaction.timeout.ms:"), justBelow);
    }

    @Test
    void acceptsATransactionTimeoutWithRoomForARecoveryAndAtLeastOnceSinksWithoutTransactions() {
        StreamExecutionEnvironment raised = clusterCheckpointingEvery(java.time.Duration.ofMinutes(10));
        DeviceSyncJob.configure(raised, params("--kafka.transaction.timeout.ms", "1260000"));
        assertEquals(600_000, raised.getCheckpointConfig().getCheckpointInterval());
        DeviceSyncJob.configure(
                clusterCheckpointingEvery(java.time.Duration.ofMinutes(4)), PARAMS); // 9 min needed, 10 there
        DeviceSyncJob.configure(
                clusterCheckpointingEvery(java.time.Duration.ofMinutes(10)),
                params("--sink.delivery-guarantee", "at-least-once"));
        StreamExecutionEnvironment own = StreamExecutionEnvironment.getExecutionEnvironment();
        DeviceSyncJob.configure(own, params("--checkpoint.interval", "4 min"));
        assertEquals(240_000, own.getCheckpointConfig().getCheckpointInterval());
    }

    @Test
    void refusesExactlyOnceSinksOnAClusterThatCheckpointsAtLeastOnce() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(10_000, org.apache.flink.core.execution.CheckpointingMode.AT_LEAST_ONCE);
        String msg = org.junit.jupiter.api.Assertions.assertThrows(
                        IllegalArgumentException.class, () -> DeviceSyncJob.configure(env, PARAMS))
                .getMessage();
        assertTrue(msg.startsWith("--sink.delivery-guarantee:"), msg);
    }
}
