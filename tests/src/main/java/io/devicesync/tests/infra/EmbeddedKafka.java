package io.devicesync.tests.infra;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;

/**
 * A real Kafka broker (KRaft, combined broker and controller) in this JVM, on 127.0.0.1, its logs
 * under a folder of the caller's. Configured for one broker: replication factor 1 and min ISR 1
 * for the offsets and transaction logs, or transactions hang.
 */
public final class EmbeddedKafka implements AutoCloseable {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(EmbeddedKafka.class);
    private final KafkaClusterTestKit cluster;

    private EmbeddedKafka(KafkaClusterTestKit cluster) {
        this.cluster = cluster;
    }

    public static EmbeddedKafka start(Path baseDir) throws Exception {
        KafkaClusterTestKit cluster = new KafkaClusterTestKit.Builder(new TestKitNodes.Builder()
                        .setCombined(true)
                        .setNumBrokerNodes(1)
                        .setNumControllerNodes(1)
                        .setBaseDirectory(baseDir)
                        .build())
                .setConfigProp("offsets.topic.replication.factor", "1")
                .setConfigProp("offsets.topic.num.partitions", "4")
                .setConfigProp("transaction.state.log.replication.factor", "1")
                .setConfigProp("transaction.state.log.min.isr", "1")
                .setConfigProp("transaction.state.log.num.partitions", "4")
                .setConfigProp("group.initial.rebalance.delay.ms", "0")
                .setConfigProp("auto.create.topics.enable", "false")
                .setConfigProp("log.flush.interval.messages", "1000000")
                .build();
        // The storage formatter prints its metadata on System.out: to the log file instead, so
        // that the local run's console shows devicesync's own lines only.
        java.io.ByteArrayOutputStream formatterOutput = new java.io.ByteArrayOutputStream();
        java.io.PrintStream console = System.out;
        System.setOut(new java.io.PrintStream(formatterOutput, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            cluster.format();
        } finally {
            System.setOut(console);
        }
        LOG.info(
                "Kafka storage formatted: {}",
                formatterOutput
                        .toString(java.nio.charset.StandardCharsets.UTF_8)
                        .trim());
        cluster.startup();
        cluster.waitForReadyBrokers();
        return new EmbeddedKafka(cluster);
    }

    public String bootstrapServers() {
        return cluster.bootstrapServers();
    }

    public Properties clientProperties() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrapServers());
        return p;
    }

    /** Creates topics with the given partitions; {@code compacted} ones get cleanup.policy=compact. */
    public void createTopics(int partitions, List<String> topics, List<String> compacted) throws Exception {
        try (Admin admin = Admin.create(clientProperties())) {
            List<NewTopic> all = new ArrayList<>();
            for (String t : topics) {
                NewTopic nt = new NewTopic(t, partitions, (short) 1);
                if (compacted.contains(t)) nt.configs(Map.of("cleanup.policy", "compact"));
                all.add(nt);
            }
            admin.createTopics(all).all().get();
            // Produce only once every partition has a leader: a producer that starts earlier can
            // see its first batches refused while the partitions come up.
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (!allLed(admin, topics)) {
                if (System.nanoTime() > deadline) throw new IllegalStateException("topics without leaders: " + topics);
                Thread.onSpinWait();
            }
        }
    }

    private static boolean allLed(Admin admin, List<String> topics) throws Exception {
        try {
            for (var d : admin.describeTopics(topics).allTopicNames().get().values()) {
                for (var p : d.partitions())
                    if (p.leader() == null || p.leader().isEmpty()) return false;
            }
            return true;
        } catch (java.util.concurrent.ExecutionException e) {
            // Just created: the broker's metadata may not know the topic yet. Ask again.
            if (e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException) return false;
            throw e;
        }
    }

    @Override
    public void close() throws Exception {
        cluster.close();
    }
}
