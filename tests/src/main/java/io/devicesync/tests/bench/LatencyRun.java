package io.devicesync.tests.bench;

import io.devicesync.tests.infra.EmbeddedDatabase;
import io.devicesync.tests.infra.KafkaProcess;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * End-to-end latency at a fixed input rate: increments are appended to an empty events topic at
 * {@code rate} per second (in 10 ms ticks), each with {@code ts} = the time its tick was due (so a
 * generator that falls behind shows as latency, not as a lower rate);
 * a read_committed consumer of {@code device-state} takes, for every version it receives, the
 * time since its {@code ts}: from the append to the commit that made it visible, consumer poll
 * included. The first {@link #SETTLE} of the run (job start, first checkpoints) is not counted.
 *
 * <p>A source stall is the longest time the job's {@code eventsIn} counter did not move while input
 * was waiting (sampled every 20 ms).
 */
final class LatencyRun {
    private LatencyRun() {}

    /** Not counted: the job starting and its first checkpoints. */
    static final Duration SETTLE = Duration.ofSeconds(20);

    record Result(String variant, double rate, long versions, long p50, long p99, long max, long longestStall) {
        @Override
        public String toString() {
            return String.format(
                    Locale.ROOT,
                    "%s at %,.0f events/s: %,d versions, p50 %,d ms, p99 %,d ms, max %,d ms,"
                            + " longest source stall %,d ms",
                    variant,
                    rate,
                    versions,
                    p50,
                    p99,
                    max,
                    longestStall);
        }
    }

    static Result run(
            String variant,
            double rate,
            Duration length,
            int devices,
            KafkaProcess kafka,
            EmbeddedDatabase db,
            Map<String, String> o,
            java.nio.file.Path work)
            throws Exception {
        if (!variant.equals("devicesync") && !variant.equals("devicesync-alos")) {
            throw new IllegalArgumentException(
                    "--latency-variants: '" + variant + "' is not devicesync or devicesync-alos");
        }
        String id = "latency-" + variant;
        String events = "events-" + id;
        Benchmark.createTopics(kafka.bootstrapServers(), List.of(events));
        BenchReporter.reset();
        StreamExecutionEnvironment env =
                StreamExecutionEnvironment.createLocalEnvironment(2, Benchmark.flinkConf(o, work, id));
        Benchmark.buildJob(env, variant, id, events, kafka, db, o);
        JobClient job = env.executeAsync("bench " + id);

        long start = System.currentTimeMillis();
        long countFrom = start + SETTLE.toMillis();
        long end = start + SETTLE.toMillis() + length.toMillis();
        AtomicLong sent = new AtomicLong();
        AtomicLong sentCounted = new AtomicLong(); // sent with ts in [countFrom, end): the versions to wait for
        AtomicBoolean sending = new AtomicBoolean(true);
        long[] ticks = {0};
        long[] stall = {0, 0, System.nanoTime()}; // [longest ms, last count, when it last moved]
        long countFromNanos = System.nanoTime() + SETTLE.toNanos();
        ScheduledExecutorService timers = Executors.newScheduledThreadPool(2);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(kafka.bootstrapServers()));
                KafkaConsumer<byte[], byte[]> consumer =
                        new KafkaConsumer<>(consumerProps(kafka.bootstrapServers(), id))) {
            consumer.subscribe(List.of("state-" + id));
            long[] seqOf = new long[devices];
            double perTick = rate / 100.0;
            double[] owed = {0};
            timers.scheduleAtFixedRate(
                    () -> {
                        if (!sending.get()) return;
                        owed[0] += perTick;
                        long now = start + 10 * ticks[0]++; // when this tick was due
                        if (now >= end) {
                            sending.set(false);
                            return;
                        }
                        for (; owed[0] >= 1; owed[0]--) {
                            if (now >= countFrom) sentCounted.incrementAndGet();
                            long n = sent.getAndIncrement();
                            int d = (int) (n % devices);
                            String deviceId = String.format(Locale.ROOT, "dev-%06d", d);
                            String value = "{\"deviceId\":\"" + deviceId + "\",\"epoch\":0,\"seq\":" + (++seqOf[d])
                                    + ",\"ts\":" + now + ",\"data\":{\"temp\":" + (20 + (n % 100) / 10.0) + ",\"n\":"
                                    + n + "}}";
                            producer.send(new ProducerRecord<>(
                                    events,
                                    deviceId.getBytes(StandardCharsets.UTF_8),
                                    value.getBytes(StandardCharsets.UTF_8)));
                        }
                    },
                    0,
                    10,
                    TimeUnit.MILLISECONDS);
            timers.scheduleAtFixedRate(
                    () -> {
                        long n = BenchReporter.sum("eventsIn");
                        long now = System.nanoTime();
                        long since = Math.max(stall[2], countFromNanos); // a stall counts from the settled part on
                        if (n != stall[1] || n >= sent.get()) {
                            stall[1] = n;
                            stall[2] = now;
                        } else if (now > countFromNanos) {
                            synchronized (stall) {
                                stall[0] = Math.max(stall[0], (now - since) / 1_000_000);
                            }
                        }
                    },
                    0,
                    20,
                    TimeUnit.MILLISECONDS);

            long[] latencies = new long[(int) Math.min(Integer.MAX_VALUE - 8, rate * (length.toSeconds() + 5) + 1000)];
            int count = 0;
            long deadline = end
                    + Duration.ofSeconds(3 * Long.parseLong(o.get("checkpoint-interval")) + 30)
                            .toMillis();
            // Until every version of the counted part arrived (each increment makes one), or the deadline.
            while (System.currentTimeMillis() < deadline && (sending.get() || count < sentCounted.get())) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(50))) {
                    long now = System.currentTimeMillis();
                    long ts = tsOf(r.value());
                    if (ts >= countFrom && ts < end && count < latencies.length) latencies[count++] = now - ts;
                }
                if (job.getJobStatus().get().isGloballyTerminalState())
                    throw new IllegalStateException(id + ": the job ended");
            }
            job.cancel().get();
            if (count < sentCounted.get()) {
                Benchmark.say(String.format(
                        Locale.ROOT,
                        "latency %s: only %,d of %,d versions arrived by the deadline",
                        variant,
                        count,
                        sentCounted.get()));
            }
            long longestStall;
            synchronized (stall) {
                longestStall = stall[0];
            }
            long[] l = Arrays.copyOf(latencies, count);
            Arrays.sort(l);
            if (count == 0) throw new IllegalStateException(id + ": no version arrived on the state topic");
            return new Result(
                    variant,
                    rate,
                    count,
                    l[count / 2],
                    l[(int) Math.min(count - 1, Math.ceil(count * 0.99) - 1)],
                    l[count - 1],
                    longestStall);
        } finally {
            timers.shutdownNow();
        }
    }

    /** The {@code ts} of a device-state record, read without a JSON tree (the consumer keeps up). */
    static long tsOf(byte[] json) {
        byte[] key = "\"ts\":".getBytes(StandardCharsets.US_ASCII);
        outer:
        for (int i = 0; i + key.length < json.length; i++) {
            for (int k = 0; k < key.length; k++) if (json[i + k] != key[k]) continue outer;
            long v = 0;
            for (int j = i + key.length; j < json.length && json[j] >= '0' && json[j] <= '9'; j++)
                v = v * 10 + (json[j] - '0');
            return v;
        }
        return -1;
    }

    private static Properties producerProps(String bootstrap) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("acks", "1");
        p.put("linger.ms", "5");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        return p;
    }

    private static Properties consumerProps(String bootstrap, String id) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", "latency-reader-" + id);
        p.put("auto.offset.reset", "earliest");
        p.put("isolation.level", "read_committed");
        p.put("fetch.max.wait.ms", "50");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        return p;
    }
}
