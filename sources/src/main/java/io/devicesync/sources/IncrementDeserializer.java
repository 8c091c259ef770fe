package io.devicesync.sources;

import io.devicesync.model.DeadLetter;
import io.devicesync.model.IncrementCodec;
import io.devicesync.model.SourceRecord;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Reads {@code device-events}. It never throws: the Kafka source would restart the task on the
 * same offset forever. Every record becomes exactly one {@link SourceRecord}: a valid increment, or
 * a dead letter that keeps the original bytes (a value over 64 KiB cut to 64 KiB, a key over 1 KiB
 * to 1 KiB, with their original sizes), the reason, topic, partition and offset.
 */
public class IncrementDeserializer implements KafkaRecordDeserializationSchema<SourceRecord> {
    private static final long serialVersionUID = 1L;

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<SourceRecord> out) {
        out.collect(toSourceRecord(record));
    }

    static SourceRecord toSourceRecord(ConsumerRecord<byte[], byte[]> record) {
        IncrementCodec.Parsed parsed = IncrementCodec.parse(record.key(), record.value());
        if (parsed.isValid()) {
            return SourceRecord.of(parsed.increment);
        }
        // Cut to the input's limit: the dead letter must fit the producer whatever was rejected.
        return SourceRecord.rejected(DeadLetter.of(
                        record.key(),
                        record.value(),
                        IncrementCodec.MAX_VALUE_BYTES,
                        parsed.rejectReason,
                        record.topic(),
                        record.partition(),
                        record.offset(),
                        Math.max(0L, record.timestamp()))
                .redrivenFrom(IncrementDeserializer.header(record, DeadLetter.REDRIVEN_FROM)));
    }

    /**
     * The last value of a header of the record, null when it has none. Only the dead letters read
     * one (a re-drive's {@link DeadLetter#REDRIVEN_FROM}): a valid record's headers are never looked at.
     */
    static byte[] header(ConsumerRecord<byte[], byte[]> record, String name) {
        if (record.headers() == null) return null;
        org.apache.kafka.common.header.Header h = record.headers().lastHeader(name);
        return h == null ? null : h.value();
    }

    @Override
    public TypeInformation<SourceRecord> getProducedType() {
        return TypeInformation.of(SourceRecord.class);
    }
}
