package io.devicesync.sources;

import io.devicesync.model.SourceRecord;
import java.util.Properties;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;

/** The Kafka source of {@code device-events}. */
public final class EventSource {
    private EventSource() {}

    /** Where a fresh job starts reading. */
    public enum StartingOffsets {
        EARLIEST,
        LATEST,
        COMMITTED_OR_EARLIEST;

        public OffsetsInitializer initializer() {
            switch (this) {
                case EARLIEST:
                    return OffsetsInitializer.earliest();
                case LATEST:
                    return OffsetsInitializer.latest();
                default:
                    return OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
            }
        }
    }

    /**
     * @param clientProperties passed to the Kafka consumer as they are (security, SASL, TLS…)
     */
    public static KafkaSource<SourceRecord> create(
            String bootstrapServers,
            String topic,
            String groupId,
            StartingOffsets startingOffsets,
            Properties clientProperties) {
        Properties props = new Properties();
        props.putAll(clientProperties);
        // Read only what producers committed; a device platform may write transactionally.
        props.putIfAbsent("isolation.level", "read_committed");
        props.putIfAbsent("partition.discovery.interval.ms", "60000");
        return KafkaSource.<SourceRecord>builder()
                .setBootstrapServers(bootstrapServers)
                .setTopics(topic)
                .setGroupId(groupId)
                .setStartingOffsets(startingOffsets.initializer())
                .setDeserializer(new IncrementDeserializer())
                .setProperties(props)
                .build();
    }
}
