package io.devicesync.tests.infra;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/** Reads a topic from the beginning, committed records only (what consumers of the job see). */
public final class TopicReader implements AutoCloseable {
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();

    public TopicReader(String bootstrapServers, String topic) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrapServers);
        p.put("group.id", "reader-" + UUID.randomUUID());
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        p.put("isolation.level", "read_committed");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        consumer = new KafkaConsumer<>(p);
        consumer.subscribe(List.of(topic));
    }

    /** Polls once (up to {@code wait}) and returns the records that arrived. */
    public List<ConsumerRecord<byte[], byte[]>> poll(Duration wait) {
        List<ConsumerRecord<byte[], byte[]>> fresh = new ArrayList<>();
        consumer.poll(wait).forEach(fresh::add);
        records.addAll(fresh);
        return fresh;
    }

    /** Everything read so far, in the order read. */
    public List<ConsumerRecord<byte[], byte[]>> all() {
        return records;
    }

    @Override
    public void close() {
        consumer.close();
    }
}
