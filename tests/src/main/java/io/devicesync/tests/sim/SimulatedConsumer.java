package io.devicesync.tests.sim;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.devicesync.model.Ack;
import io.devicesync.model.AckCodec;
import io.devicesync.model.Json;
import io.devicesync.model.Versions;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A consumer of {@code device-state} (and of its own records on {@code device-redispatch}) that
 * acknowledges what it read, as a real one would: read_committed, one cumulative ack per version
 * read. {@link #setAcking} stops and resumes its acks (a consumer that is down); when it resumes, it
 * acknowledges the latest version of every device it read meanwhile. {@code dropRate} loses that
 * share of its acks (a flaky consumer). Runs on its own thread.
 */
public final class SimulatedConsumer implements AutoCloseable {
    private final String name;
    private final String acksTopic;
    private final double dropRate;
    private final Random random;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final KafkaProducer<byte[], byte[]> producer;
    private final Thread thread;
    private final String redispatchTopic;
    private volatile boolean acking = true;
    private volatile boolean running = true;
    private volatile Throwable failure;
    /** The latest version read per device that is not acknowledged yet. */
    private final Map<String, Version> unacked = new HashMap<>();

    /** What an ack needs from a device-state or redispatch record, read without building a tree. */
    static final class Version {
        String deviceId;
        long epoch;
        long seq;
        String redispatchConsumer;

        static Version of(byte[] json) throws java.io.IOException {
            Version v = new Version();
            try (JsonParser p = Json.MAPPER.getFactory().createParser(json)) {
                p.nextToken();
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String field = p.currentName();
                    p.nextToken();
                    switch (field) {
                        case "deviceId" -> v.deviceId = p.getText();
                        case "epoch" -> v.epoch = p.getLongValue();
                        case "seq" -> v.seq = p.getLongValue();
                        case "redispatch" -> {
                            while (p.nextToken() == JsonToken.FIELD_NAME) {
                                String f = p.currentName();
                                p.nextToken();
                                if (f.equals("consumer")) v.redispatchConsumer = p.getText();
                                else p.skipChildren();
                            }
                        }
                        default -> p.skipChildren();
                    }
                }
            }
            return v;
        }
    }

    public final AtomicLong read = new AtomicLong();
    public final AtomicLong redispatchesRead = new AtomicLong();
    public final AtomicLong acked = new AtomicLong();
    public final AtomicLong dropped = new AtomicLong();

    public SimulatedConsumer(
            String bootstrapServers,
            String name,
            String stateTopic,
            String redispatchTopic,
            String acksTopic,
            double dropRate,
            long seed) {
        this.name = name;
        this.acksTopic = acksTopic;
        this.redispatchTopic = redispatchTopic;
        this.dropRate = dropRate;
        this.random = new Random(seed);
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrapServers);
        c.put("enable.auto.commit", "false");
        c.put("isolation.level", "read_committed");
        c.put("key.deserializer", ByteArrayDeserializer.class.getName());
        c.put("value.deserializer", ByteArrayDeserializer.class.getName());
        consumer = new KafkaConsumer<>(c);
        List<TopicPartition> partitions = new ArrayList<>();
        for (String topic : List.of(stateTopic, redispatchTopic)) {
            consumer.partitionsFor(topic, Duration.ofSeconds(30))
                    .forEach(i -> partitions.add(new TopicPartition(topic, i.partition())));
        }
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrapServers);
        p.put("acks", "all");
        p.put("linger.ms", "5");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        producer = new KafkaProducer<>(p);
        thread = new Thread(this::run, "consumer-" + name);
        thread.setDaemon(true);
    }

    public SimulatedConsumer start() {
        thread.start();
        return this;
    }

    public String name() {
        return name;
    }

    /** Stops (false) or resumes (true) acknowledging. */
    public void setAcking(boolean on) {
        acking = on;
    }

    public boolean isAcking() {
        return acking;
    }

    private void run() {
        try {
            while (running) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    if (r.value() == null) continue;
                    Version v = Version.of(r.value());
                    if (r.topic().equals(redispatchTopic)) {
                        if (!name.equals(v.redispatchConsumer)) continue;
                        redispatchesRead.incrementAndGet();
                    } else {
                        read.incrementAndGet();
                    }
                    Version prev = unacked.get(v.deviceId);
                    if (prev == null || Versions.compare(v.epoch, v.seq, prev.epoch, prev.seq) > 0)
                        unacked.put(v.deviceId, v);
                }
                if (acking && !unacked.isEmpty()) {
                    for (Version s : unacked.values()) {
                        if (dropRate > 0 && random.nextDouble() < dropRate) {
                            dropped.incrementAndGet();
                            continue;
                        }
                        Ack a = new Ack(name, s.deviceId, s.epoch, s.seq, System.currentTimeMillis());
                        producer.send(new ProducerRecord<>(
                                acksTopic, s.deviceId.getBytes(StandardCharsets.UTF_8), AckCodec.toJson(a)));
                        acked.incrementAndGet();
                    }
                    unacked.clear();
                    producer.flush();
                }
            }
        } catch (Throwable t) {
            if (running) failure = t;
        }
    }

    /** Rethrows what stopped the consumer's thread, if anything did. */
    public void check() {
        if (failure != null) throw new IllegalStateException("consumer " + name + " failed", failure);
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        thread.join(10_000);
        consumer.close();
        producer.close();
    }
}
