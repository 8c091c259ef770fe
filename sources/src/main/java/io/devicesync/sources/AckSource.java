package io.devicesync.sources;

import io.devicesync.model.AckCodec;
import io.devicesync.model.AckRecord;
import io.devicesync.model.DeadLetter;
import java.time.Duration;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The Kafka source of {@code device-acks} (only when {@code --delivery.consumers} is set). Its
 * deserializer never throws: every record becomes a valid ack or a dead letter with its coordinates.
 * Watermarks as for the events: an idle topic follows the wall clock, so deadlines fire while every
 * input is idle.
 */
public final class AckSource {
    private AckSource() {}

    public static KafkaSource<AckRecord> create(
            String bootstrapServers,
            String topic,
            String groupId,
            EventSource.StartingOffsets startingOffsets,
            Properties clientProperties) {
        Properties props = new Properties();
        props.putAll(clientProperties);
        props.putIfAbsent("isolation.level", "read_committed");
        props.putIfAbsent("partition.discovery.interval.ms", "60000");
        return KafkaSource.<AckRecord>builder()
                .setBootstrapServers(bootstrapServers)
                .setTopics(topic)
                .setGroupId(groupId)
                .setStartingOffsets(startingOffsets.initializer())
                .setDeserializer(new Deserializer())
                .setProperties(props)
                .build();
    }

    public static WatermarkStrategy<AckRecord> watermarks(
            Duration outOfOrderness, Duration idleTimeout, Duration maxFutureSkew) {
        return EventTimeWatermarks.<AckRecord>generator(
                        outOfOrderness, idleTimeout, maxFutureSkew, EventTimeWatermarks.SYSTEM_CLOCK)
                .withTimestampAssigner((r, kafkaTs) -> r.eventTime());
    }

    /** Never throws. */
    public static final class Deserializer implements KafkaRecordDeserializationSchema<AckRecord> {
        private static final long serialVersionUID = 1L;

        @Override
        public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<AckRecord> out) {
            out.collect(toAckRecord(record));
        }

        static AckRecord toAckRecord(ConsumerRecord<byte[], byte[]> record) {
            AckCodec.Parsed parsed = AckCodec.parse(record.key(), record.value());
            if (parsed.isValid()) return AckRecord.of(parsed.ack);
            // Cut to the acks' limit: the dead letter must fit the producer whatever was rejected.
            return AckRecord.rejected(DeadLetter.of(
                            record.key(),
                            record.value(),
                            AckCodec.MAX_VALUE_BYTES,
                            parsed.rejectReason,
                            record.topic(),
                            record.partition(),
                            record.offset(),
                            Math.max(0L, record.timestamp()))
                    .redrivenFrom(IncrementDeserializer.header(record, DeadLetter.REDRIVEN_FROM)));
        }

        @Override
        public TypeInformation<AckRecord> getProducedType() {
            return TypeInformation.of(AckRecord.class);
        }
    }
}
