package io.devicesync.jobs.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.jobs.tools.RedriveSelection.Decision;
import io.devicesync.jobs.tools.RedriveSelection.Letter;
import io.devicesync.jobs.tools.RedriveSelection.Outcome;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Which dead letters a re-drive selects, skips and sends where, and how it counts them: no Kafka. */
class RedriveSelectionTest {
    private static final String B = "--kafka.bootstrap-servers";

    /** A dead letter as the job writes it. */
    private static Letter letter(String key, long ts, String reason, String topic, String... moreHeaders) {
        Map<String, String> h = new HashMap<>();
        if (reason != null) h.put("devicesync.reason", reason);
        if (topic != null) h.put("devicesync.topic", topic);
        h.put("devicesync.partition", "1");
        h.put("devicesync.offset", "7");
        for (int i = 0; i + 1 < moreHeaders.length; i += 2) h.put(moreHeaders[i], moreHeaders[i + 1]);
        byte[] k = key == null ? null : key.getBytes(StandardCharsets.UTF_8);
        return new Letter() {
            @Override
            public byte[] key() {
                return k;
            }

            @Override
            public long timestamp() {
                return ts;
            }

            @Override
            public String header(String name) {
                return h.get(name);
            }
        };
    }

    private static Decision decide(Letter l, String... args) {
        String[] all = new String[args.length + 2];
        all[0] = B;
        all[1] = "k";
        System.arraycopy(args, 0, all, 2, args.length);
        return new RedriveSelection(RedriveOptions.parse(all)).decide(l);
    }

    @Test
    void everythingByDefaultToItsSourceTopic() {
        Decision d = decide(letter("meter-1", 5, "NOT_JSON", "device-events"));
        assertEquals(Outcome.REDRIVE, d.outcome());
        assertEquals("device-events", d.destination());
        assertEquals(
                "device-acks",
                decide(letter(null, 5, "MISSING_CONSUMER", "device-acks")).destination(),
                "an ack's dead letter goes back to the acks");
        assertEquals(
                "fixed-events",
                decide(letter("m", 5, "NOT_JSON", "device-events"), "--to-topic", "fixed-events")
                        .destination());
    }

    @Test
    void selectsByReasonSourceTopicDeviceAndTime() {
        Letter l = letter("meter-1", 1000, "MISTYPED_SEQ", "device-events");
        assertEquals(
                Outcome.REDRIVE, decide(l, "--reason", "NOT_JSON,MISTYPED_SEQ").outcome());
        assertEquals(Outcome.NOT_SELECTED, decide(l, "--reason", "NOT_JSON").outcome());
        assertEquals(
                Outcome.NOT_SELECTED,
                decide(letter("m", 1, null, "device-events"), "--reason", "NOT_JSON")
                        .outcome());
        assertEquals(
                Outcome.REDRIVE, decide(l, "--source-topic", "device-events").outcome());
        assertEquals(
                Outcome.NOT_SELECTED, decide(l, "--source-topic", "device-acks").outcome());
        assertEquals(Outcome.REDRIVE, decide(l, "--device", "meter-2,meter-1").outcome());
        assertEquals(Outcome.NOT_SELECTED, decide(l, "--device", "meter-10").outcome());
        assertEquals(
                Outcome.NOT_SELECTED,
                decide(letter(null, 1, "NOT_JSON", "device-events"), "--device", "meter-1")
                        .outcome(),
                "a record without a key is no device's");
        assertEquals(
                Outcome.REDRIVE, decide(l, "--from", "1000", "--to", "1001").outcome(), "from inclusive");
        assertEquals(Outcome.NOT_SELECTED, decide(l, "--from", "1001").outcome());
        assertEquals(Outcome.NOT_SELECTED, decide(l, "--to", "1000").outcome(), "to exclusive");
        assertEquals(
                Outcome.NOT_SELECTED,
                decide(l, "--reason", "MISTYPED_SEQ", "--device", "meter-2").outcome(),
                "every criterion given must match");
    }

    @Test
    void aCutValueOrKeyIsSkippedUnlessTheOriginalIsFetched() {
        Letter cut = letter(null, 1, "TOO_LARGE", "device-events", "devicesync.original-size", "2097152");
        assertEquals(Outcome.SKIP_CUT, decide(cut).outcome());
        assertEquals(Outcome.REDRIVE_ORIGINAL, decide(cut, "--fetch-originals").outcome());
        assertTrue(decide(cut, "--fetch-originals").redrives());
        Letter cutKey =
                letter("k".repeat(1024), 1, "KEY_MISMATCH", "device-events", "devicesync.original-key-size", "5000");
        assertEquals(Outcome.SKIP_CUT, decide(cutKey).outcome());
    }

    @Test
    void deadLettersOfAnEarlierReDriveAreSkippedUnlessIncluded() {
        Letter again = letter("m", 1, "NOT_JSON", "device-events", "devicesync.redriven-from", "device-events-dlq/0/3");
        assertEquals(Outcome.SKIP_REDRIVEN, decide(again).outcome());
        assertEquals(Outcome.REDRIVE, decide(again, "--include-redriven").outcome());
    }

    @Test
    void noSourceTopicNoDestination() {
        Letter foreign = letter("m", 1, "NOT_JSON", null);
        assertEquals(Outcome.SKIP_NO_TOPIC, decide(foreign).outcome());
        assertNull(decide(foreign).destination());
        assertEquals(
                Outcome.REDRIVE, decide(foreign, "--to-topic", "device-events").outcome());
    }

    @Test
    void theTallyCountsSelectedOnesByReasonAndSourceTopic() {
        RedriveSelection s = new RedriveSelection(RedriveOptions.parse(B, "k", "--reason", "NOT_JSON,TOO_LARGE"));
        RedriveSelection.Tally t = new RedriveSelection.Tally();
        for (Letter l : new Letter[] {
            letter("a", 1, "NOT_JSON", "device-events"),
            letter("b", 1, "NOT_JSON", "device-acks"),
            letter("c", 1, "NOT_JSON", "device-events", "devicesync.redriven-from", "dlq/0/1"),
            letter(null, 1, "TOO_LARGE", "device-events", "devicesync.original-size", "70000"),
            letter("d", 1, "MISTYPED_SEQ", "device-events"),
            letter("e", 1, "NOT_JSON", null)
        }) {
            t.add(l, s.decide(l));
        }
        assertEquals(6, t.read);
        assertEquals(
                "selected 5: re-drive 2, skipped: value cut 1, re-driven before 1, no source topic 1",
                t.total.toString());
        assertEquals(
                "selected 4: re-drive 2, skipped: value cut 0, re-driven before 1, no source topic 1",
                t.byReason.get("NOT_JSON").toString());
        assertEquals(1, t.byReason.get("TOO_LARGE").cut);
        assertEquals(
                Map.of("device-events", 3L, "device-acks", 1L, "(none)", 1L),
                Map.of(
                        "device-events",
                        t.bySourceTopic.get("device-events").selected,
                        "device-acks",
                        t.bySourceTopic.get("device-acks").selected,
                        "(none)",
                        t.bySourceTopic.get("(none)").selected));
    }

    @Test
    void thePacerSpacesPermitsEvenly() {
        Redrive.Pacer p = new Redrive.Pacer(50);
        long start = System.nanoTime();
        for (int i = 0; i < 11; i++) assertTrue(p.acquire());
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertTrue(ms >= 195, "11 permits at 50/s take at least 200 ms: " + ms + " ms");
    }
}
