package io.devicesync.jobs.tools;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the re-drive does with one dead letter, from its key, timestamp and headers alone: plain Java,
 * unit-tested without Kafka. The tally counts the outcomes by reason and by source topic.
 */
public final class RedriveSelection {
    public static final String REASON = "devicesync.reason";
    public static final String TOPIC = "devicesync.topic";
    public static final String PARTITION = "devicesync.partition";
    public static final String OFFSET = "devicesync.offset";
    public static final String ORIGINAL_SIZE = "devicesync.original-size";
    public static final String ORIGINAL_KEY_SIZE = "devicesync.original-key-size";
    public static final String REDRIVEN_FROM = io.devicesync.model.DeadLetter.REDRIVEN_FROM;
    /** How a dead letter without the header shows in the counts. */
    public static final String NONE = "(none)";

    public enum Outcome {
        /** Does not match the selection: left alone, counted only in the total read. */
        NOT_SELECTED,
        /** Re-published as it is on the dead-letter topic. */
        REDRIVE,
        /** Its value (or key) was cut: re-published in full from its source coordinates (--fetch-originals). */
        REDRIVE_ORIGINAL,
        /** Its value (or key) was cut: skipped (the full record stays at its source coordinates). */
        SKIP_CUT,
        /** A dead letter of an earlier re-drive (header devicesync.redriven-from): skipped. */
        SKIP_REDRIVEN,
        /** No devicesync.topic and no --to-topic: nowhere to go. */
        SKIP_NO_TOPIC,
        /** Cut, and its full record is no longer at its source coordinates (or differs): skipped. */
        SKIP_ORIGINAL_GONE
    }

    /** The parts of a dead letter the decision reads. */
    public interface Letter {
        byte[] key();

        long timestamp();

        /** The header's last value as UTF-8 text, null when absent. */
        String header(String name);
    }

    /** A decision: the outcome, and where the record goes when it is re-driven. */
    public record Decision(Outcome outcome, String destination) {
        public boolean redrives() {
            return outcome == Outcome.REDRIVE || outcome == Outcome.REDRIVE_ORIGINAL;
        }
    }

    private final RedriveOptions o;

    public RedriveSelection(RedriveOptions options) {
        this.o = options;
    }

    public Decision decide(Letter d) {
        String reason = d.header(REASON);
        String topic = d.header(TOPIC);
        if (!o.reasons.isEmpty() && (reason == null || !o.reasons.contains(reason))) return not();
        if (!o.sourceTopics.isEmpty() && (topic == null || !o.sourceTopics.contains(topic))) return not();
        if (!o.devices.isEmpty()
                && (d.key() == null || !o.devices.contains(new String(d.key(), StandardCharsets.UTF_8)))) {
            return not();
        }
        if (o.fromMs != null && d.timestamp() < o.fromMs) return not();
        if (o.toMs != null && d.timestamp() >= o.toMs) return not();
        String destination = o.toTopic != null ? o.toTopic : topic;
        if (d.header(REDRIVEN_FROM) != null && !o.includeRedriven)
            return new Decision(Outcome.SKIP_REDRIVEN, destination);
        if (destination == null || destination.isEmpty()) return new Decision(Outcome.SKIP_NO_TOPIC, null);
        if (isCut(d)) return new Decision(o.fetchOriginals ? Outcome.REDRIVE_ORIGINAL : Outcome.SKIP_CUT, destination);
        return new Decision(Outcome.REDRIVE, destination);
    }

    private static Decision not() {
        return new Decision(Outcome.NOT_SELECTED, null);
    }

    public static boolean isCut(Letter d) {
        return d.header(ORIGINAL_SIZE) != null || d.header(ORIGINAL_KEY_SIZE) != null;
    }

    /** The header naming a dead letter's coordinates: {@code topic/partition/offset}. */
    public static String coordinates(String topic, int partition, long offset) {
        return topic + "/" + partition + "/" + offset;
    }

    /** Counts of the selected dead letters, by reason and by source topic. */
    public static final class Tally {
        /** Selected, re-published (or, in a dry run, to be), cut, of earlier re-drives, without a topic. */
        public static final class Row {
            public long selected;
            public long redrive;
            public long cut;
            public long redriven;
            public long noTopic;
            public long gone;

            void add(Outcome outcome) {
                selected++;
                switch (outcome) {
                    case REDRIVE, REDRIVE_ORIGINAL -> redrive++;
                    case SKIP_CUT -> cut++;
                    case SKIP_REDRIVEN -> redriven++;
                    case SKIP_NO_TOPIC -> noTopic++;
                    case SKIP_ORIGINAL_GONE -> gone++;
                    default -> throw new IllegalArgumentException(outcome.name());
                }
            }

            @Override
            public String toString() {
                return "selected " + selected + ": re-drive " + redrive + ", skipped: value cut " + cut
                        + ", re-driven before " + redriven + ", no source topic " + noTopic
                        + (gone > 0 ? ", original gone " + gone : "");
            }
        }

        public long read;
        public final Row total = new Row();
        public final Map<String, Row> byReason = new TreeMap<>();
        public final Map<String, Row> bySourceTopic = new TreeMap<>();

        public void add(Letter d, Decision decision) {
            read++;
            if (decision.outcome() == Outcome.NOT_SELECTED) return;
            total.add(decision.outcome());
            byReason.computeIfAbsent(orNone(d.header(REASON)), k -> new Row()).add(decision.outcome());
            bySourceTopic
                    .computeIfAbsent(orNone(d.header(TOPIC)), k -> new Row())
                    .add(decision.outcome());
        }

        private static String orNone(String s) {
            return s == null ? NONE : s;
        }
    }
}
