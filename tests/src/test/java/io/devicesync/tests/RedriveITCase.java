package io.devicesync.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.devicesync.jobs.tools.Redrive;
import io.devicesync.jobs.tools.RedriveOptions;
import io.devicesync.tests.infra.TopicReader;
import io.devicesync.tests.sim.DeviceSimulator;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.apache.flink.client.program.ClusterClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.InjectClusterClient;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 18, item 2: re-driving dead letters, on the real broker with the job running. A bad producer
 * wrote records the job dead-letters (malformed JSON, a mistyped seq, a value over 64 KiB, malformed
 * acks), and a previous release dead-lettered records that are fine (its bug, now fixed: some are
 * new versions, some stale duplicates). A dry run counts them and publishes nothing (run from the
 * shaded jar, as an operator runs it); the re-drive of the fixed ones replays each exactly once per
 * run and the job publishes every version once, however often they are re-driven; the re-drive of
 * the still-bad ones ends with each dead-lettered once more (and only once); a cut value is skipped
 * unless its original is fetched.
 */
class RedriveITCase extends EndToEnd {

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(4)
            .setConfiguration(noRestarts())
            .build());

    static final String[] FIXED_DEVICES = {"fx-1", "fx-2", "fx-3", "fx-4"};
    static final int BIG = 70_000;
    static final Duration DEADLINE = Duration.ofSeconds(60);

    @Test
    void deadLettersAreReDrivenOncePerRunAndTheStillBadOnesDeadLetteredOnceMore(
            @InjectClusterClient ClusterClient<?> client) throws Exception {
        DeviceSimulator.Options o = new DeviceSimulator.Options();
        o.devices = 1;
        try (Scenario s = new Scenario(kafka, db, client.getWebInterfaceURL(), o, 1000);
                KafkaProducer<byte[], byte[]> producer = producer()) {
            String acks = "acks-" + s.id;
            kafka.createTopics(4, List.of(acks, "redispatch-" + s.id, "redispatch-dlq-" + s.id), List.of());
            s.startJob(DeliveryITCase.deliveryArgs(s, "billing", "5 min"));
            s.awaitStarted();
            long now = System.currentTimeMillis();

            // The bad producer, and the first versions of the devices whose later ones a previous release rejected.
            for (String d : FIXED_DEVICES) send(producer, s.events, d, increment(d, 1, now));
            for (int i = 1; i <= 3; i++) send(producer, s.events, "bad-" + i, utf8("not json {" + i));
            for (int i = 4; i <= 5; i++) {
                send(
                        producer,
                        s.events,
                        "bad-" + i,
                        utf8("{\"deviceId\":\"bad-" + i + "\",\"seq\":\"2\",\"ts\":" + now + ",\"data\":{}}"));
            }
            byte[] big = OversizedInputITCase.json(BIG, "big");
            send(producer, s.events, null, big);
            for (int i = 1; i <= 2; i++) send(producer, acks, "bad-ack-" + i, utf8("{not an ack " + i));
            // What the previous release wrote to the dead-letter topic: each device's versions 1 (a stale
            // duplicate by now), 2 and 3, rejected as INTERNAL_ERROR.
            Map<String, ConsumerRecord<byte[], byte[]>> seeded = new HashMap<>();
            long fakeOffset = 1000;
            for (String d : FIXED_DEVICES) {
                for (int seq = 1; seq <= 3; seq++) {
                    RecordHeaders h = new RecordHeaders();
                    h.add("devicesync.reason", utf8("INTERNAL_ERROR"));
                    h.add("devicesync.topic", utf8(s.events));
                    h.add("devicesync.partition", utf8("0"));
                    h.add("devicesync.offset", utf8(Long.toString(fakeOffset++)));
                    producer.send(new ProducerRecord<>(s.dlq, null, null, utf8(d), increment(d, seq, now + seq), h))
                            .get();
                }
            }

            // The job dead-letters the bad producer's 8 records; 12 were there: 20 in all.
            List<ConsumerRecord<byte[], byte[]>> dlq = awaitRecords(s, s.dlq, n -> n >= 20, "20 dead letters");
            assertEquals(20, dlq.size());
            for (ConsumerRecord<byte[], byte[]> r : dlq) {
                if ("INTERNAL_ERROR".equals(DeliveryITCase.header(r, "devicesync.reason")))
                    seeded.put(coordinates(r), r);
            }
            assertEquals(12, seeded.size());
            s.awaitOrFail(
                    () -> {
                        s.pollOutputs();
                        return List.of(FIXED_DEVICES).stream().allMatch(d -> s.last.containsKey(d));
                    },
                    () -> "the first version of every fixed device published: " + s.last.keySet());

            // 1. A dry run, from the shaded jar: counts by reason and source topic; nothing published.
            Map<String, Long> eventsEnd = endOffsets(s.events);
            Map<String, Long> acksEnd = endOffsets(acks);
            String dry = runJar(
                    "--kafka.bootstrap-servers",
                    kafka.bootstrapServers(),
                    "--topic.dlq",
                    s.dlq,
                    "--dry-run",
                    "--kafka.sasl.jaas.config",
                    "not-used-but-secret-42");
            assertTrue(dry.contains("read 20 dead letters of " + s.dlq), dry);
            assertTrue(
                    dry.contains(
                            "selected 20: re-drive 19, skipped: value cut 1, re-driven before 0, no source topic 0"),
                    dry);
            assertReasonLine(dry, "INTERNAL_ERROR", "selected 12: re-drive 12,");
            assertReasonLine(dry, "NOT_JSON", "selected 5: re-drive 5,");
            assertReasonLine(dry, "MISTYPED_SEQ", "selected 2: re-drive 2,");
            assertReasonLine(dry, "TOO_LARGE", "selected 1: re-drive 0, skipped: value cut 1,");
            assertReasonLine(dry, s.events, "selected 18: re-drive 17, skipped: value cut 1,");
            assertReasonLine(dry, acks, "selected 2: re-drive 2,");
            assertTrue(
                    dry.contains("DRY RUN: nothing published; would re-drive 19 {" + acks + "=2, " + s.events + "=17}"),
                    dry);
            assertTrue(dry.contains("the full records stay at their coordinates in the source topic"), dry);
            assertTrue(
                    !dry.contains("not-used-but-secret-42") && dry.contains("sasl.jaas.config=***"),
                    "no secret printed: " + dry);
            assertTrue(!dry.contains("SLF4J"), "no logging noise: " + dry);
            assertEquals(eventsEnd, endOffsets(s.events), "a dry run publishes nothing");
            assertEquals(acksEnd, endOffsets(acks), "a dry run publishes nothing");
            // Selections: by reason and device; by time (nothing after the future).
            Redrive.Result one = redrive(s, "--reason", "NOT_JSON", "--device", "bad-2", "--dry-run");
            assertEquals(1, one.tally.total.selected);
            assertEquals(Map.of(s.events, 1L), one.publishedByTopic());
            Redrive.Result none =
                    redrive(s, "--from", Long.toString(System.currentTimeMillis() + 3_600_000), "--dry-run");
            assertEquals(0, none.tally.read, "offsetsForTimes: nothing is read after --from");
            Redrive.Result earlier = redrive(s, "--to", Long.toString(now - 60_000), "--dry-run");
            assertEquals(20, earlier.tally.read);
            assertEquals(0, earlier.tally.total.selected, "every dead letter is newer than --to");

            // 2. The fixed records, re-driven twice: on the source topic once per run, each with its dead letter's
            // coordinates; the job publishes every version once (versions 1 the second time: stale, dropped).
            long before = System.nanoTime();
            Redrive.Result first =
                    redrive(s, "--reason", "INTERNAL_ERROR", "--rate", "20", "--progress-interval", "200 ms");
            long tookMs = (System.nanoTime() - before) / 1_000_000;
            assertEquals(Map.of(s.events, 12L), first.publishedByTopic());
            assertEquals(0, first.failed.sum());
            assertTrue(tookMs >= 11 * 1000 / 20, "12 records at 20/s take at least 550 ms: " + tookMs + " ms");
            // Offsets, not records: the job's transactions leave a marker after each batch of dead letters.
            assertTrue(
                    java.util.regex.Pattern.compile(
                                    "redrive: \\[00:0\\d\\] read [1-9][0-9]* of [0-9]+ offsets \\(\\d+ %\\) "
                                            + "\\| selected [1-9]")
                            .matcher(lastOutput)
                            .find(),
                    "progress lines as it runs: " + lastOutput);
            assertRedriven(s.events, seeded, 1);
            s.awaitOrFail(
                    () -> {
                        s.pollOutputs();
                        return List.of(FIXED_DEVICES).stream().allMatch(d -> s.last.get(d).seq == 3);
                    },
                    () -> "version 3 of every fixed device published: " + s.publishedVersions);
            Redrive.Result second = redrive(s, "--reason", "INTERNAL_ERROR", "--rate", "1000");
            assertEquals(Map.of(s.events, 12L), second.publishedByTopic());
            assertRedriven(s.events, seeded, 2);
            s.quiesce();
            for (String d : FIXED_DEVICES) {
                assertEquals(
                        List.of("0/1:increment", "0/2:increment", "0/3:increment"),
                        s.publishedVersions.get(d),
                        d + ": every version once, though re-driven twice");
            }
            assertEquals(20, s.dlqReader.all().size(), "fixed records are not dead-lettered again");

            // 3. The still-bad ones (events and acks): each dead-lettered once more, with its reason, its source
            // topic and the coordinates of the dead letter it was re-driven from; never re-driven by itself.
            Map<String, ConsumerRecord<byte[], byte[]>> bad = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : dlq) {
                String reason = DeliveryITCase.header(r, "devicesync.reason");
                if (reason.equals("NOT_JSON") || reason.equals("MISTYPED_SEQ")) bad.put(coordinates(r), r);
            }
            assertEquals(7, bad.size());
            Redrive.Result still = redrive(s, "--reason", "NOT_JSON,MISTYPED_SEQ");
            assertEquals(Map.of(s.events, 5L, acks, 2L), still.publishedByTopic());
            awaitRecords(s, s.dlq, n -> n >= 27, "27 dead letters");
            s.quiesce();
            List<ConsumerRecord<byte[], byte[]>> again = s.dlqReader.all().stream()
                    .filter(r -> DeliveryITCase.header(r, "devicesync.redriven-from") != null)
                    .collect(Collectors.toList());
            assertEquals(27, s.dlqReader.all().size(), "7 more dead letters, no more: " + describe(again));
            assertEquals(7, again.size());
            Map<String, Long> perOriginal = again.stream()
                    .collect(Collectors.groupingBy(
                            r -> DeliveryITCase.header(r, "devicesync.redriven-from"),
                            TreeMap::new,
                            Collectors.counting()));
            assertEquals(bad.keySet(), perOriginal.keySet(), "one dead letter more per still-bad record re-driven");
            assertTrue(perOriginal.values().stream().allMatch(n -> n == 1), perOriginal.toString());
            for (ConsumerRecord<byte[], byte[]> r : again) {
                ConsumerRecord<byte[], byte[]> original = bad.get(DeliveryITCase.header(r, "devicesync.redriven-from"));
                assertEquals(
                        DeliveryITCase.header(original, "devicesync.reason"),
                        DeliveryITCase.header(r, "devicesync.reason"));
                assertEquals(
                        DeliveryITCase.header(original, "devicesync.topic"),
                        DeliveryITCase.header(r, "devicesync.topic"));
                assertArrayEquals(original.key(), r.key());
                assertArrayEquals(original.value(), r.value());
            }
            // Run again, they are counted as dead letters of a re-drive and skipped: a record's dead letters never
            // multiply.
            Redrive.Result recount = redrive(s, "--dry-run");
            assertEquals(27, recount.tally.read);
            assertEquals(7, recount.tally.total.redriven);
            assertEquals(19, recount.tally.total.redrive);

            // 4. The cut value: skipped and said so; with --fetch-originals re-driven whole from its coordinates
            // (still too large: dead-lettered once more, cut again).
            Redrive.Result cut = redrive(s, "--reason", "TOO_LARGE");
            assertEquals(1, cut.tally.total.cut);
            assertEquals(0, cut.published());
            Redrive.Result whole = redrive(s, "--reason", "TOO_LARGE", "--fetch-originals");
            assertEquals(Map.of(s.events, 1L), whole.publishedByTopic());
            ConsumerRecord<byte[], byte[]> tooLarge = dlq.stream()
                    .filter(r -> "TOO_LARGE".equals(DeliveryITCase.header(r, "devicesync.reason")))
                    .findFirst()
                    .orElseThrow();
            List<ConsumerRecord<byte[], byte[]>> redrivenBig = readAll(s.events).stream()
                    .filter(r -> coordinates(tooLarge).equals(DeliveryITCase.header(r, "devicesync.redriven-from")))
                    .collect(Collectors.toList());
            assertEquals(1, redrivenBig.size());
            assertArrayEquals(big, redrivenBig.get(0).value(), "the original, whole");
            awaitRecords(s, s.dlq, n -> n >= 28, "28 dead letters");
            ConsumerRecord<byte[], byte[]> cutAgain =
                    s.dlqReader.all().get(s.dlqReader.all().size() - 1);
            assertEquals(coordinates(tooLarge), DeliveryITCase.header(cutAgain, "devicesync.redriven-from"));
            assertEquals(Integer.toString(BIG), DeliveryITCase.header(cutAgain, "devicesync.original-size"));
            s.assertStillRunning();
        }
    }

    private static void assertReasonLine(String output, String name, String counts) {
        for (String line : output.split("\n")) {
            if (line.trim().startsWith(name + " ") && line.contains(counts)) return;
        }
        fail("a line '" + name + " … " + counts + "' in:\n" + output);
    }

    /** Every dead letter seeded is on the source topic {@code times} times, with its key and value, named by the header. */
    private void assertRedriven(String topic, Map<String, ConsumerRecord<byte[], byte[]>> seeded, int times) {
        Map<String, Long> count = new TreeMap<>();
        for (ConsumerRecord<byte[], byte[]> r : readAll(topic)) {
            String from = DeliveryITCase.header(r, "devicesync.redriven-from");
            ConsumerRecord<byte[], byte[]> d = from == null ? null : seeded.get(from);
            if (d == null) continue;
            assertArrayEquals(d.key(), r.key(), from);
            assertArrayEquals(d.value(), r.value(), from);
            count.merge(from, 1L, Long::sum);
        }
        assertEquals(seeded.keySet(), count.keySet(), "every dead letter re-driven");
        assertTrue(count.values().stream().allMatch(n -> n == times), "each " + times + " time(s): " + count);
    }

    /** What the last {@link #redrive} printed. */
    private String lastOutput = "";

    private Redrive.Result redrive(Scenario s, String... args) {
        List<String> all =
                new ArrayList<>(List.of("--kafka.bootstrap-servers", kafka.bootstrapServers(), "--topic.dlq", s.dlq));
        all.addAll(List.of(args));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Redrive.Result r =
                Redrive.execute(RedriveOptions.parse(all.toArray(new String[0])), new PrintStream(out, true));
        lastOutput = out.toString(StandardCharsets.UTF_8);
        System.out.print(lastOutput);
        return r;
    }

    /** The re-drive as an operator runs it: {@code java -cp <the shaded jar> io.devicesync.jobs.tools.Redrive …}. */
    private static String runJar(String... args) throws Exception {
        String jar = System.getProperty("devicesync.job.jar");
        assertNotNull(jar, "system property devicesync.job.jar (set in tests/pom.xml)");
        assertTrue(
                new File(jar).isFile(),
                "the shaded job jar " + jar + " is built (mvn -pl tests -am verify builds it first)");
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m",
                "-cp",
                jar,
                "io.devicesync.jobs.tools.Redrive"));
        command.addAll(List.of(args));
        Path log = Files.createTempFile("redrive", ".out");
        Process p = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        if (!p.waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("the re-drive did not end within " + DEADLINE + ":\n" + Files.readString(log));
        }
        String output = Files.readString(log);
        System.out.print(output);
        assertEquals(0, p.exitValue(), output);
        return output;
    }

    /** Reads {@code topic} (read_committed) until {@code done} holds for the number of records, within the deadline. */
    private static List<ConsumerRecord<byte[], byte[]>> awaitRecords(
            Scenario s, String topic, Predicate<Integer> done, String what) throws Exception {
        TopicReader reader = topic.equals(s.dlq) ? s.dlqReader : null;
        assertNotNull(reader);
        s.awaitOrFail(
                () -> {
                    s.pollOutputs();
                    return done.test(reader.all().size());
                },
                () -> what + ": " + reader.all().size());
        return new ArrayList<>(reader.all());
    }

    /** Every committed record of a topic now. */
    private static List<ConsumerRecord<byte[], byte[]>> readAll(String topic) {
        try (TopicReader r = new TopicReader(kafka.bootstrapServers(), topic)) {
            long deadline = System.nanoTime() + DEADLINE.toNanos();
            while (!r.atEnd()) {
                if (System.nanoTime() > deadline) fail("not read to its end within " + DEADLINE + ": " + topic);
                r.poll(Duration.ofMillis(100));
            }
            return new ArrayList<>(r.all());
        }
    }

    private static Map<String, Long> endOffsets(String topic) {
        Properties p = kafka.clientProperties();
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = c.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                    .map(i -> new TopicPartition(topic, i.partition()))
                    .collect(Collectors.toList());
            Map<String, Long> out = new TreeMap<>();
            c.endOffsets(tps, Duration.ofSeconds(30)).forEach((tp, o) -> out.put(tp.toString(), o));
            return out;
        }
    }

    private static String coordinates(ConsumerRecord<byte[], byte[]> r) {
        return r.topic() + "/" + r.partition() + "/" + r.offset();
    }

    private static String describe(List<ConsumerRecord<byte[], byte[]>> records) {
        return records.stream()
                .map(r -> coordinates(r) + " " + DeliveryITCase.header(r, "devicesync.reason") + " from "
                        + DeliveryITCase.header(r, "devicesync.redriven-from"))
                .collect(Collectors.joining("; "));
    }

    private static byte[] increment(String device, int seq, long ts) {
        return utf8("{\"deviceId\":\"" + device + "\",\"seq\":" + seq + ",\"ts\":" + ts + ",\"data\":{\"v" + seq + "\":"
                + seq + "}}");
    }

    private static KafkaProducer<byte[], byte[]> producer() {
        Properties p = kafka.clientProperties();
        p.put("acks", "all");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    /** Sends and waits for the broker's answer (KAFKA-15591: every send is checked). */
    private static void send(KafkaProducer<byte[], byte[]> producer, String topic, String key, byte[] value)
            throws Exception {
        producer.send(new ProducerRecord<>(topic, key == null ? null : utf8(key), value))
                .get();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
