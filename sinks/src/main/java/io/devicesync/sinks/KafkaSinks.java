package io.devicesync.sinks;

import io.devicesync.model.Alert;
import io.devicesync.model.Codecs;
import io.devicesync.model.DeadLetter;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Redispatch;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The job's Kafka sinks, all with one delivery guarantee ({@code --sink.delivery-guarantee}).
 * Exactly-once (the default): each writes in Kafka transactions committed on checkpoints, with its
 * own transactional-id prefix; consumers read with {@code isolation.level=read_committed}.
 * At-least-once: records are written at once and flushed on checkpoints; after a restore some are
 * written again.
 *
 * <p>Record timestamps are the producer's clock, never a device's {@code ts}: a negative or far
 * future device time would make the producer or the broker refuse the record and the job restart
 * on the same input forever. Dead letters keep the timestamp of the record they copy.
 */
public final class KafkaSinks {
    private KafkaSinks() {}

    /**
     * Within the default {@code transaction.max.timeout.ms} of a stock broker (15 min), and well
     * above any sane checkpoint interval. Flink's own default (1 h) makes a stock broker refuse
     * every transaction. Override with {@code --kafka.transaction.timeout.ms}.
     */
    public static final String DEFAULT_TRANSACTION_TIMEOUT_MS = "600000";

    public static KafkaSink<DeviceState> deviceState(
            String bootstrap, String topic, String txPrefix, Properties props, DeliveryGuarantee guarantee) {
        return build(bootstrap, txPrefix, props, guarantee, (KafkaRecordSerializationSchema<DeviceState>)
                (s, ctx, ts) -> new ProducerRecord<>(topic, null, null, utf8(s.deviceId), Codecs.deviceState(s)));
    }

    public static KafkaSink<Alert> alerts(
            String bootstrap, String topic, String txPrefix, Properties props, DeliveryGuarantee guarantee) {
        return build(bootstrap, txPrefix, props, guarantee, (KafkaRecordSerializationSchema<Alert>)
                (a, ctx, ts) -> new ProducerRecord<>(topic, null, null, utf8(alertKey(a)), Codecs.alert(a)));
    }

    public static KafkaSink<io.devicesync.model.AuditRecord> audits(
            String bootstrap, String topic, String txPrefix, Properties props, DeliveryGuarantee guarantee) {
        return build(
                bootstrap, txPrefix, props, guarantee, (KafkaRecordSerializationSchema<io.devicesync.model.AuditRecord>)
                        (a, ctx, ts) -> new ProducerRecord<>(topic, null, null, utf8(a.deviceId), Codecs.audit(a)));
    }

    /** The device's latest state plus {@code "redispatch":{"consumer":…,"attempt":…}}, key = deviceId. */
    public static KafkaSink<Redispatch> redispatch(
            String bootstrap, String topic, String txPrefix, Properties props, DeliveryGuarantee guarantee) {
        return build(bootstrap, txPrefix, props, guarantee, (KafkaRecordSerializationSchema<Redispatch>)
                (r, ctx, ts) -> new ProducerRecord<>(topic, null, null, utf8(r.state.deviceId), Codecs.redispatch(r)));
    }

    /**
     * The last redispatch record of an exhausted episode, with headers {@code devicesync.reason} =
     * {@code REDISPATCH_EXHAUSTED}, {@code devicesync.consumer}, {@code devicesync.attempts} (sent).
     */
    public static KafkaSink<Redispatch> redispatchDeadLetters(
            String bootstrap, String topic, String txPrefix, Properties props, DeliveryGuarantee guarantee) {
        return build(bootstrap, txPrefix, props, guarantee, (KafkaRecordSerializationSchema<Redispatch>)
                (r, ctx, ts) -> {
                    RecordHeaders headers = new RecordHeaders();
                    headers.add("devicesync.reason", utf8(REDISPATCH_EXHAUSTED));
                    headers.add("devicesync.consumer", utf8(r.consumer));
                    headers.add("devicesync.attempts", utf8(Integer.toString(r.attemptsSent)));
                    return new ProducerRecord<>(
                            topic, null, null, utf8(r.state.deviceId), Codecs.redispatch(r), headers);
                });
    }

    public static final String REDISPATCH_EXHAUSTED = "REDISPATCH_EXHAUSTED";
    /** Header of a dead letter whose value was cut: the value's size in bytes as received. */
    public static final String ORIGINAL_SIZE = "devicesync.original-size";
    /** Header of a dead letter whose key was cut: the key's size in bytes as received. */
    public static final String ORIGINAL_KEY_SIZE = "devicesync.original-key-size";

    /**
     * Key and value as received (a value over its input's limit, a key over 1 KiB, cut by the
     * source: see {@link DeadLetter}); reason, topic, partition and offset as UTF-8 headers, and
     * {@code devicesync.original-size} / {@code devicesync.original-key-size} when the value / key
     * was cut, and the rejected record's {@code devicesync.redriven-from} when it was re-driven from a
     * dead letter (its only header copied, cut to 512 bytes). Every dead letter fits
     * {@link DeadLetter#MAX_RECORD_BYTES}.
     */
    public static KafkaSink<DeadLetter> deadLetters(
            String bootstrap, String topic, String txPrefix, Properties props, DeliveryGuarantee guarantee) {
        return build(bootstrap, txPrefix, props, guarantee, (KafkaRecordSerializationSchema<DeadLetter>)
                (d, ctx, ts) -> deadLetterRecord(topic, d));
    }

    /** The record a dead letter is written as (public for tests: what the producer is given). */
    public static ProducerRecord<byte[], byte[]> deadLetterRecord(String topic, DeadLetter letter) {
        DeadLetter d = letter.bounded();
        RecordHeaders headers = new RecordHeaders();
        headers.add("devicesync.reason", utf8(d.reason));
        headers.add("devicesync.topic", utf8(d.topic));
        headers.add("devicesync.partition", utf8(Integer.toString(d.partition)));
        headers.add("devicesync.offset", utf8(Long.toString(d.offset)));
        if (d.originalValueSize >= 0) headers.add(ORIGINAL_SIZE, utf8(Integer.toString(d.originalValueSize)));
        if (d.originalKeySize >= 0) headers.add(ORIGINAL_KEY_SIZE, utf8(Integer.toString(d.originalKeySize)));
        if (d.redrivenFrom != null) headers.add(DeadLetter.REDRIVEN_FROM, d.redrivenFrom);
        return new ProducerRecord<>(topic, null, d.timestamp, d.key, d.value, headers);
    }

    private static <T> KafkaSink<T> build(
            String bootstrap,
            String txPrefix,
            Properties clientProps,
            DeliveryGuarantee guarantee,
            KafkaRecordSerializationSchema<T> serializer) {
        if (guarantee == DeliveryGuarantee.NONE)
            throw new IllegalArgumentException("a sink of this job never drops records");
        Properties props = new Properties();
        props.putAll(clientProps);
        props.putIfAbsent("transaction.timeout.ms", DEFAULT_TRANSACTION_TIMEOUT_MS);
        return KafkaSink.<T>builder()
                .setBootstrapServers(bootstrap)
                .setKafkaProducerConfig(props)
                .setDeliveryGuarantee(guarantee)
                .setTransactionalIdPrefix(txPrefix)
                .setRecordSerializer(serializer)
                .build();
    }

    /** The device, else the consumer, else (the AlertPolicy's job-wide alerts) the type. */
    static String alertKey(io.devicesync.model.Alert a) {
        return a.deviceId != null ? a.deviceId : a.consumer != null ? a.consumer : a.type.name();
    }

    private static byte[] utf8(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }
}
