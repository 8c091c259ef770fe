package io.devicesync.sources;

import io.devicesync.model.AuditRecord;
import io.devicesync.model.Codecs;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Reads {@code device-audit} back into the job: the loop that Flink 2 cannot have inside a job.
 * Every record but {@code VERIFIED} passes: {@code REPAIR_PENDING}, {@code IN_FLIGHT}, {@code DB_BEHIND} and
 * {@code DB_MISSING} make the SequenceGuard audit the device again (with a repair if it waits for one);
 * {@code TAIL_LOSS} tells it the version the repair reached. A fresh job starts at the end of the topic (older records belong to state it
 * does not have); a restored job continues from its checkpointed offsets.
 */
public final class AuditFeedbackSource {
    private AuditFeedbackSource() {}

    public static KafkaSource<AuditRecord> create(
            String bootstrapServers, String topic, String groupId, Properties clientProperties) {
        Properties props = new Properties();
        props.putAll(clientProperties);
        props.putIfAbsent("isolation.level", "read_committed");
        return KafkaSource.<AuditRecord>builder()
                .setBootstrapServers(bootstrapServers)
                .setTopics(topic)
                .setGroupId(groupId)
                .setStartingOffsets(OffsetsInitializer.latest())
                .setDeserializer(new Deserializer())
                .setProperties(props)
                .build();
    }

    /**
     * Always idle: this input carries no event time, so it must never hold back the guard's
     * watermark (a two-input operator follows the smaller of its inputs).
     */
    public static WatermarkStrategy<AuditRecord> watermarks() {
        return WatermarkStrategy.<AuditRecord>forGenerator(ctx -> new AlwaysIdle())
                .withTimestampAssigner((a, kafkaTs) -> a.ts);
    }

    static final class AlwaysIdle implements WatermarkGenerator<AuditRecord> {
        @Override
        public void onEvent(AuditRecord event, long eventTimestamp, WatermarkOutput output) {}

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {
            output.markIdle();
        }
    }

    /** Never throws; {@code VERIFIED} records and anything that is not an audit record are skipped. */
    static final class Deserializer implements KafkaRecordDeserializationSchema<AuditRecord> {
        private static final long serialVersionUID = 1L;

        @Override
        public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<AuditRecord> out) {
            if (record.value() == null) return;
            AuditRecord a = Codecs.readAudit(record.value());
            if (a != null && a.outcome != null && !AuditRecord.Outcome.VERIFIED.equals(a.outcome)) {
                out.collect(a);
            }
        }

        @Override
        public TypeInformation<AuditRecord> getProducedType() {
            return TypeInformation.of(AuditRecord.class);
        }
    }
}
