package io.devicesync.jobs.tools;

import io.devicesync.jobs.tools.RedriveSelection.Decision;
import io.devicesync.jobs.tools.RedriveSelection.Letter;
import io.devicesync.jobs.tools.RedriveSelection.Outcome;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Re-drives dead letters: reads the dead-letter topic from its beginning (or {@code --from}) up to
 * the end offsets it finds at the start, selects by reason, source topic, device and record time,
 * and re-publishes each selected record's key and value to the topic it was rejected from, at a rate
 * limit, with the header {@code devicesync.redriven-from} naming the dead letter. See
 * {@link RedriveOptions#usage()} and the README, "Re-driving dead letters".
 *
 * <p>A plain Java main of the shaded jar (Kafka clients only, no Flink):
 * {@code java -cp devicesync-jobs-<version>-job.jar io.devicesync.jobs.tools.Redrive --help}.
 */
public final class Redrive {
    static final Duration TIMEOUT = Duration.ofSeconds(30);
    /** Failures listed in the summary (all are counted). */
    static final int FAILURES_LISTED = 10;

    /** What a run did (for the summary, and for tests). */
    public static final class Result {
        public final RedriveSelection.Tally tally = new RedriveSelection.Tally();
        /** Acknowledged by the broker, per destination topic (in a dry run: what would be sent). */
        public final Map<String, LongAdder> published = new ConcurrentHashMap<>();

        public final LongAdder failed = new LongAdder();
        public final List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        public int partitions;
        /** Offsets of the dead-letter topic in the range read (records, and transaction markers); -1 until known. */
        public long offsetsToRead = -1;

        public final AtomicLong offsetsRead = new AtomicLong();
        public boolean stoppedEarly;
        public long elapsedMs;

        public long published() {
            return published.values().stream().mapToLong(LongAdder::sum).sum();
        }

        public Map<String, Long> publishedByTopic() {
            Map<String, Long> out = new TreeMap<>();
            published.forEach((k, v) -> out.put(k, v.sum()));
            return out;
        }

        public int exitCode() {
            return failed.sum() > 0 || stoppedEarly ? 1 : 0;
        }
    }

    /** A failure of the run itself (not of one record): said in one line, exit status 1. */
    static final class RedriveException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        RedriveException(String message) {
            super(message);
        }
    }

    private final RedriveOptions o;
    private final PrintStream out;
    private final RedriveSelection selection;
    private final Result result = new Result();
    private volatile boolean stopRequested;
    private final AtomicLong sent = new AtomicLong();

    Redrive(RedriveOptions options, PrintStream out) {
        this.o = options;
        this.out = out;
        this.selection = new RedriveSelection(options);
    }

    public static void main(String[] args) {
        RedriveOptions options;
        try {
            options = RedriveOptions.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("redrive: " + e.getMessage());
            System.exit(2);
            return;
        }
        if (options.help) {
            System.out.print(RedriveOptions.usage());
            return;
        }
        quietLoggingWithoutBinding();
        Redrive r = new Redrive(options, System.out);
        CountDownLatch finished = new CountDownLatch(1);
        Thread hook = new Thread(
                () -> {
                    // Ctrl-C: stop reading, let what was sent be acknowledged, print the summary.
                    r.stopRequested = true;
                    try {
                        finished.await(30, TimeUnit.SECONDS);
                    } catch (InterruptedException ignored) {
                        Thread.currentThread().interrupt();
                    }
                },
                "redrive-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        int code;
        try {
            code = r.run().exitCode();
        } catch (RedriveException | KafkaException e) {
            System.err.println("redrive: failed: " + message(e));
            code = 1;
        } finally {
            finished.countDown();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            return;
        }
        System.exit(code);
    }

    /**
     * The shaded jar has slf4j's API (the Kafka clients log through it) but no binding: without one
     * on the class path slf4j prints three lines of warning and logs nothing. The re-drive reports
     * what matters itself, so the warning is left out; with a binding (e.g. {@code -cp
     * job.jar:$FLINK_HOME/lib/*}) the Kafka clients' log shows as configured.
     */
    static void quietLoggingWithoutBinding() {
        try {
            Class.forName("org.slf4j.impl.StaticLoggerBinder");
            return;
        } catch (ClassNotFoundException | LinkageError none) {
            // no binding: slf4j falls back to its no-operation logger, after a warning
        }
        PrintStream err = System.err;
        System.setErr(new PrintStream(java.io.OutputStream.nullOutputStream()));
        try {
            org.slf4j.LoggerFactory.getILoggerFactory();
        } finally {
            System.setErr(err);
        }
    }

    /**
     * Parses and runs, printing to {@code out}; a wrong argument or a failure of the run is one line
     * on {@code err}. Returns the exit status (0 done, 1 a failure, 2 a wrong argument).
     */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        RedriveOptions options;
        try {
            options = RedriveOptions.parse(args);
        } catch (IllegalArgumentException e) {
            err.println("redrive: " + e.getMessage());
            return 2;
        }
        if (options.help) {
            out.print(RedriveOptions.usage());
            return 0;
        }
        try {
            return new Redrive(options, out).run().exitCode();
        } catch (RedriveException | KafkaException e) {
            err.println("redrive: failed: " + message(e));
            return 1;
        }
    }

    /** Runs with parsed options, printing progress and the summary to {@code out} (for tests and embedding). */
    public static Result execute(RedriveOptions options, PrintStream out) {
        return new Redrive(options, out).run();
    }

    /** An exception in one line: its class and message, and its cause's (no secrets: Kafka's messages carry none). */
    static String message(Throwable e) {
        StringBuilder b = new StringBuilder(
                        e instanceof RedriveException ? "" : e.getClass().getSimpleName() + ": ")
                .append(e.getMessage());
        Set<Throwable> seen = new LinkedHashSet<>();
        for (Throwable c = e.getCause(); c != null && seen.add(c); c = c.getCause()) {
            b.append(" (")
                    .append(c.getClass().getSimpleName())
                    .append(": ")
                    .append(c.getMessage())
                    .append(')');
        }
        return b.toString();
    }

    Properties clientProperties() {
        Properties p = new Properties();
        p.putAll(o.kafka);
        p.put("bootstrap.servers", o.bootstrapServers);
        return p;
    }

    private KafkaConsumer<byte[], byte[]> consumer(String role) {
        Properties p = clientProperties();
        p.put("client.id", "devicesync-redrive-" + role);
        p.put("isolation.level", "read_committed");
        p.put("enable.auto.commit", "false");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    private KafkaProducer<byte[], byte[]> producer() {
        Properties p = clientProperties();
        p.put("client.id", "devicesync-redrive");
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.putIfAbsent("linger.ms", "5");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    Result run() {
        long started = System.nanoTime();
        out.println("redrive: " + o.describe());
        ScheduledExecutorService progress = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "redrive-progress");
            t.setDaemon(true);
            return t;
        });
        progress.scheduleAtFixedRate(
                () -> out.println(progressLine(started)),
                o.progressIntervalMs,
                o.progressIntervalMs,
                TimeUnit.MILLISECONDS);
        try (KafkaConsumer<byte[], byte[]> consumer = consumer("dlq");
                Originals originals = new Originals();
                KafkaProducer<byte[], byte[]> producer = o.dryRun ? null : producer()) {
            read(consumer, originals, producer);
            if (producer != null) producer.flush();
        } finally {
            progress.shutdownNow();
        }
        result.elapsedMs = (System.nanoTime() - started) / 1_000_000;
        printSummary();
        return result;
    }

    private void read(
            KafkaConsumer<byte[], byte[]> consumer, Originals originals, KafkaProducer<byte[], byte[]> producer) {
        List<PartitionInfo> infos = consumer.partitionsFor(o.dlqTopic, TIMEOUT);
        if (infos == null || infos.isEmpty()) throw new RedriveException("topic " + o.dlqTopic + " not found");
        List<TopicPartition> partitions = new ArrayList<>();
        for (PartitionInfo i : infos) partitions.add(new TopicPartition(i.topic(), i.partition()));
        result.partitions = partitions.size();
        consumer.assign(partitions);
        // The end is fixed now: what is dead-lettered meanwhile (a re-driven record rejected again) waits for a later
        // run.
        Map<TopicPartition, Long> end = consumer.endOffsets(partitions, TIMEOUT);
        Map<TopicPartition, Long> start = new HashMap<>(consumer.beginningOffsets(partitions, TIMEOUT));
        if (o.fromMs != null) {
            Map<TopicPartition, Long> at = new HashMap<>();
            for (TopicPartition tp : partitions) at.put(tp, o.fromMs);
            // The first offset whose timestamp is at or after --from: every record before it is earlier.
            Map<TopicPartition, OffsetAndTimestamp> found = consumer.offsetsForTimes(at, TIMEOUT);
            for (TopicPartition tp : partitions) {
                OffsetAndTimestamp f = found.get(tp);
                start.put(tp, f == null ? end.get(tp) : Math.max(start.get(tp), f.offset()));
            }
        }
        for (TopicPartition tp : partitions) start.put(tp, Math.min(start.get(tp), end.get(tp)));
        Map<TopicPartition, Long> open = new HashMap<>();
        long toRead = 0;
        for (TopicPartition tp : partitions) {
            long s = start.get(tp);
            long e = end.get(tp);
            if (s < e) {
                consumer.seek(tp, s);
                open.put(tp, s);
                toRead += e - s;
            }
        }
        result.offsetsToRead = toRead;
        List<TopicPartition> done = new ArrayList<>(partitions);
        done.removeAll(open.keySet());
        consumer.pause(done);
        Pacer pacer = new Pacer(o.rate);
        while (!open.isEmpty() && !stopRequested) {
            ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
            for (TopicPartition tp : records.partitions()) {
                long e = end.get(tp);
                for (ConsumerRecord<byte[], byte[]> r : records.records(tp)) {
                    if (r.offset() >= e) break;
                    if (stopRequested) break;
                    handle(r, originals, producer, pacer);
                    advance(open, tp, r.offset() + 1);
                }
            }
            for (TopicPartition tp : new ArrayList<>(open.keySet())) {
                // Past transaction markers and aborted records, which poll does not return.
                if (!stopRequested) advance(open, tp, Math.min(end.get(tp), consumer.position(tp, TIMEOUT)));
                if (open.get(tp) >= end.get(tp)) {
                    open.remove(tp);
                    consumer.pause(List.of(tp));
                }
            }
        }
        result.stoppedEarly = !open.isEmpty();
    }

    /** Moves a partition's position forward (never back), and the offsets read with it. */
    private void advance(Map<TopicPartition, Long> open, TopicPartition tp, long position) {
        Long was = open.get(tp);
        if (was != null && position > was) {
            open.put(tp, position);
            result.offsetsRead.addAndGet(position - was);
        }
    }

    private void handle(
            ConsumerRecord<byte[], byte[]> r,
            Originals originals,
            KafkaProducer<byte[], byte[]> producer,
            Pacer pacer) {
        Letter letter = letter(r);
        Decision decision = selection.decide(letter);
        byte[] key = r.key();
        byte[] value = r.value();
        if (decision.outcome() == Outcome.REDRIVE_ORIGINAL) {
            ConsumerRecord<byte[], byte[]> original = originals.fetch(letter, r);
            if (original == null) {
                decision = new Decision(Outcome.SKIP_ORIGINAL_GONE, decision.destination());
            } else {
                key = original.key();
                value = original.value();
            }
        }
        result.tally.add(letter, decision);
        if (!decision.redrives()) return;
        String destination = decision.destination();
        String from = RedriveSelection.coordinates(r.topic(), r.partition(), r.offset());
        if (producer == null) {
            result.published.computeIfAbsent(destination, k -> new LongAdder()).increment();
            return;
        }
        if (!pacer.acquire()) {
            stopRequested = true;
            return;
        }
        RecordHeaders headers = new RecordHeaders();
        headers.add(RedriveSelection.REDRIVEN_FROM, from.getBytes(StandardCharsets.UTF_8));
        // The producer's clock as the timestamp: an old one could let the destination's retention delete it at once.
        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(destination, null, null, key, value, headers);
        sent.incrementAndGet();
        try {
            producer.send(record, (metadata, e) -> {
                if (e == null) {
                    result.published
                            .computeIfAbsent(destination, k -> new LongAdder())
                            .increment();
                } else {
                    fail(from, destination, e);
                }
            });
        } catch (ApiException e) {
            fail(from, destination, e);
        }
    }

    private void fail(String from, String destination, Exception e) {
        result.failed.increment();
        if (result.failures.size() < FAILURES_LISTED) {
            result.failures.add(from + " -> " + destination + ": " + message(e));
        }
    }

    static Letter letter(ConsumerRecord<byte[], byte[]> r) {
        Map<String, String> headers = new HashMap<>();
        for (Header h : r.headers()) {
            if (h.key().startsWith("devicesync.") && h.value() != null) {
                headers.put(h.key(), new String(h.value(), StandardCharsets.UTF_8));
            }
        }
        byte[] key = r.key();
        long timestamp = r.timestamp();
        return new Letter() {
            @Override
            public byte[] key() {
                return key;
            }

            @Override
            public long timestamp() {
                return timestamp;
            }

            @Override
            public String header(String name) {
                return headers.get(name);
            }
        };
    }

    /** Reads the full records of cut dead letters at their source coordinates, one by one. */
    private final class Originals implements AutoCloseable {
        private KafkaConsumer<byte[], byte[]> consumer;

        /** The record at the dead letter's coordinates, null when it is gone or is not the one cut. */
        ConsumerRecord<byte[], byte[]> fetch(Letter letter, ConsumerRecord<byte[], byte[]> dead) {
            String topic = letter.header(RedriveSelection.TOPIC);
            int partition;
            long offset;
            try {
                partition = Integer.parseInt(letter.header(RedriveSelection.PARTITION));
                offset = Long.parseLong(letter.header(RedriveSelection.OFFSET));
            } catch (NumberFormatException | NullPointerException e) {
                return null;
            }
            if (topic == null) return null;
            if (consumer == null) consumer = consumer("originals");
            TopicPartition tp = new TopicPartition(topic, partition);
            try {
                consumer.assign(List.of(tp));
                long begin = consumer.beginningOffsets(List.of(tp), TIMEOUT).get(tp);
                long end = consumer.endOffsets(List.of(tp), TIMEOUT).get(tp);
                if (offset < begin || offset >= end) return null;
                consumer.seek(tp, offset);
                long deadline = System.nanoTime() + TIMEOUT.toNanos();
                while (System.nanoTime() < deadline) {
                    for (ConsumerRecord<byte[], byte[]> r :
                            consumer.poll(Duration.ofMillis(500)).records(tp)) {
                        if (r.offset() < offset) continue;
                        return r.offset() == offset
                                        && startsWith(r.key(), dead.key())
                                        && startsWith(r.value(), dead.value())
                                ? r
                                : null;
                    }
                    if (consumer.position(tp, TIMEOUT) > offset) return null; // compacted or aborted
                }
                return null;
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                return null; // the topic or partition is not there
            }
        }

        private boolean startsWith(byte[] full, byte[] prefix) {
            if (full == null || prefix == null) return full == prefix;
            return full.length >= prefix.length && Arrays.equals(full, 0, prefix.length, prefix, 0, prefix.length);
        }

        @Override
        public void close() {
            if (consumer != null) consumer.close();
        }
    }

    /** At most {@code rate} permits per second, evenly spaced (no burst). */
    static final class Pacer {
        private final double intervalNanos;
        private long start = Long.MIN_VALUE;
        private long n;

        Pacer(double rate) {
            this.intervalNanos = 1e9 / rate;
        }

        /** Waits for the next permit; false when interrupted. */
        boolean acquire() {
            long now = System.nanoTime();
            if (start == Long.MIN_VALUE) start = now;
            long due = start + (long) (n * intervalNanos);
            n++;
            if (due - now > 0) {
                try {
                    TimeUnit.NANOSECONDS.sleep(due - now);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            return true;
        }
    }

    String progressLine(long startedNanos) {
        long seconds = (System.nanoTime() - startedNanos) / 1_000_000_000L;
        if (result.offsetsToRead < 0) {
            return String.format(
                    Locale.ROOT,
                    "redrive: [%02d:%02d] connecting to %s for %s…",
                    seconds / 60,
                    seconds % 60,
                    o.bootstrapServers,
                    o.dlqTopic);
        }
        long read = result.offsetsRead.get();
        long toRead = result.offsetsToRead;
        RedriveSelection.Tally t = result.tally;
        long published = result.published();
        return String.format(
                Locale.ROOT,
                "redrive: [%02d:%02d] read %,d of %,d offsets (%d %%) | selected %,d | %s %,d%s | skipped %,d | failed %,d",
                seconds / 60,
                seconds % 60,
                read,
                toRead,
                toRead == 0 ? 100 : read * 100 / toRead,
                t.total.selected,
                o.dryRun ? "would re-drive" : "re-driven",
                published,
                o.dryRun || seconds == 0
                        ? ""
                        : String.format(Locale.ROOT, " (%,d/s)", published / Math.max(1, seconds)),
                t.total.selected - t.total.redrive,
                result.failed.sum());
    }

    private void printSummary() {
        Result r = result;
        RedriveSelection.Tally t = r.tally;
        StringBuilder b = new StringBuilder();
        b.append(String.format(
                Locale.ROOT,
                "redrive: %s in %.1f s: read %,d dead letters of %s (%d partitions, up to the end offsets at the start)%n",
                r.stoppedEarly ? "STOPPED EARLY" : "done",
                r.elapsedMs / 1000.0,
                t.read,
                o.dlqTopic,
                r.partitions));
        b.append("  ").append(t.total).append(System.lineSeparator());
        b.append("  by reason:").append(System.lineSeparator());
        t.byReason.forEach((k, v) -> b.append(String.format(Locale.ROOT, "    %-20s %s%n", k, v)));
        b.append("  by source topic:").append(System.lineSeparator());
        t.bySourceTopic.forEach((k, v) -> b.append(String.format(Locale.ROOT, "    %-20s %s%n", k, v)));
        Map<String, Long> byTopic = r.publishedByTopic();
        if (o.dryRun) {
            b.append("  DRY RUN: nothing published; would re-drive ")
                    .append(r.published())
                    .append(' ')
                    .append(byTopic)
                    .append(System.lineSeparator());
        } else {
            b.append("  published ")
                    .append(r.published())
                    .append(' ')
                    .append(byTopic)
                    .append(", failed ")
                    .append(r.failed.sum())
                    .append(System.lineSeparator());
            for (String f : r.failures) b.append("    failed: ").append(f).append(System.lineSeparator());
            if (r.failed.sum() > r.failures.size()) {
                b.append("    … and ")
                        .append(r.failed.sum() - r.failures.size())
                        .append(" more")
                        .append(System.lineSeparator());
            }
        }
        if (t.total.cut > 0) {
            b.append("  ")
                    .append(t.total.cut)
                    .append(" dead letter(s) skipped because their value (or key) was cut "
                            + "(header devicesync.original-size / original-key-size): the full records stay at their coordinates "
                            + "in the source topic (headers devicesync.topic, devicesync.partition, devicesync.offset); "
                            + "--fetch-originals re-drives them from there")
                    .append(System.lineSeparator());
        }
        if (t.total.gone > 0) {
            b.append("  ")
                    .append(t.total.gone)
                    .append(" cut dead letter(s) skipped: the full record is no longer at "
                            + "its source coordinates (retention, compaction) or differs from the dead letter")
                    .append(System.lineSeparator());
        }
        if (t.total.redriven > 0) {
            b.append("  ")
                    .append(t.total.redriven)
                    .append(
                            " dead letter(s) of earlier re-drives skipped (header "
                                    + "devicesync.redriven-from names the dead letter they copy; --include-redriven re-drives them too)")
                    .append(System.lineSeparator());
        }
        if (r.stoppedEarly) {
            b.append("  stopped before the end: a later run re-drives again what this one published (harmless: "
                            + "the job drops versions it already has)")
                    .append(System.lineSeparator());
        }
        out.print(b);
        out.flush();
    }
}
