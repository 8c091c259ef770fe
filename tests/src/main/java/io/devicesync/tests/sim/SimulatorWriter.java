package io.devicesync.tests.sim;

import io.devicesync.model.Increment;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Writes a simulator batch as the device platform would: the truth to PostgreSQL first (the
 * increment log, trimmed to its retention, and the snapshots), then the lossy stream to Kafka.
 */
public final class SimulatorWriter implements AutoCloseable {
    private final DataSource db;
    private final KafkaProducer<byte[], byte[]> producer;
    private final String topic;
    /** Increments kept per device in {@code device_increment}; older ones are deleted. */
    private final int logRetention;

    public SimulatorWriter(DataSource db, String bootstrapServers, String topic, int logRetention) {
        this.db = db;
        this.topic = topic;
        this.logRetention = logRetention;
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrapServers);
        p.put("acks", "all");
        p.put("enable.idempotence", "true");
        // One request in flight: with more, a request to a just-created partition can be overtaken
        // by the next one, and the idempotent producer then loses the first (KAFKA-15591, fixed
        // after Kafka 4.2.0). The simulator's wire order is part of what the tests check.
        p.put("max.in.flight.requests.per.connection", "1");
        p.put("linger.ms", "5");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        this.producer = new KafkaProducer<>(p);
    }

    public void write(DeviceSimulator.Batch batch) throws SQLException {
        writeTruth(batch);
        publish(batch);
    }

    public void writeTruth(DeviceSimulator.Batch batch) throws SQLException {
        writeTruth(batch, d -> true, d -> true);
    }

    /**
     * Writes the truth of the devices {@code rows} accepts (increments, and the snapshot where
     * {@code snapshots} accepts the device too): a database that lags for some devices, or whose
     * snapshots lag its log. Writing the batch again later for the others catches it up.
     */
    public void writeTruth(
            DeviceSimulator.Batch batch,
            java.util.function.Predicate<String> rows,
            java.util.function.Predicate<String> snapshots)
            throws SQLException {
        if (batch.truth.isEmpty()) return;
        try (Connection c = db.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement ins =
                    c.prepareStatement("INSERT INTO device_increment (device_id, epoch, seq, data, ts) "
                            + "VALUES (?, ?, ?, ?::jsonb, ?) ON CONFLICT DO NOTHING")) {
                for (Increment i : batch.truth) {
                    if (!rows.test(i.deviceId)) continue;
                    ins.setString(1, i.deviceId);
                    ins.setLong(2, i.epoch);
                    ins.setLong(3, i.seq);
                    ins.setString(4, new String(i.data, StandardCharsets.UTF_8));
                    ins.setObject(5, OffsetDateTime.ofInstant(Instant.ofEpochMilli(i.ts), ZoneOffset.UTC));
                    ins.addBatch();
                }
                ins.executeBatch();
            }
            try (PreparedStatement snap = c.prepareStatement(
                            "INSERT INTO device_snapshot (device_id, epoch, seq, state) "
                                    + "VALUES (?, ?, ?, ?::jsonb) ON CONFLICT (device_id) DO UPDATE "
                                    + "SET epoch = excluded.epoch, seq = excluded.seq, state = excluded.state, updated_at = now()");
                    PreparedStatement trim = c.prepareStatement(
                            "DELETE FROM device_increment WHERE device_id = ? AND (epoch < ? OR seq <= ?)")) {
                for (DeviceSimulator.Device d : batch.touched.values()) {
                    if (!rows.test(d.id) || !snapshots.test(d.id)) continue;
                    snap.setString(1, d.id);
                    snap.setLong(2, d.epoch);
                    snap.setLong(3, d.seq);
                    snap.setString(4, d.state.toString());
                    snap.addBatch();
                    trim.setString(1, d.id);
                    trim.setLong(2, d.epoch);
                    trim.setLong(3, d.seq - logRetention);
                    trim.addBatch();
                }
                snap.executeBatch();
                trim.executeBatch();
            }
            c.commit();
        }
    }

    /** Publishes the batch and checks every send: a record the broker refused is an error, never a silent loss. */
    public void publish(DeviceSimulator.Batch batch) {
        List<Future<RecordMetadata>> sent = new ArrayList<>(batch.wire.size());
        for (DeviceSimulator.WireRecord r : batch.wire) {
            sent.add(producer.send(new ProducerRecord<>(topic, r.key, r.value)));
        }
        producer.flush();
        for (Future<RecordMetadata> f : sent) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while publishing", e);
            } catch (ExecutionException e) {
                throw new IllegalStateException("the simulator could not publish to " + topic + ": " + e.getCause(), e);
            }
        }
    }

    @Override
    public void close() {
        producer.close();
    }
}
