package io.devicesync.operators.alerts;

import io.devicesync.model.BreakerReport;
import io.devicesync.model.Severity;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What the AlertPolicy keeps for one of its keys (an alert type): the current minute's budget, the
 * summaries folding in it, the consumers whose BACKLOG is open, and the lookup breakers' states.
 * Small and bounded: a summary per consumer at most, 20 sample ids each, a breaker per lookup
 * subtask. Stored as bytes with a format version ({@link #encode}, {@link #decode}), so a later
 * format can read this one.
 */
public final class PolicyState {
    /** The format {@link #encode} writes. */
    public static final byte VERSION = 2;
    /** Device ids kept as a summary's sample: the smallest, so that a replay keeps the same ones. */
    public static final int SAMPLE = 20;

    /** Whether {@link #windowStart} is set (no alert seen yet otherwise). */
    boolean hasWindow;
    /** The minute of processing time the counts are for (its first millisecond). */
    long windowStart;
    /** Alerts published one by one in that minute. */
    int published;
    /** Summaries of that minute, by consumer ("" for the budget's, which has none). */
    final Map<String, Summary> summaries = new TreeMap<>();
    /** Consumers whose BACKLOG is open. */
    final Set<String> backlogOpen = new TreeSet<>();
    /** The last report of each lookup subtask's breaker. */
    final Map<Integer, BreakerReport> breakers = new TreeMap<>();
    /** Whether DATABASE_UNAVAILABLE was published and DATABASE_RECOVERED not yet. */
    boolean databaseUnavailable;
    /** RESYNC_FAILED not published since DATABASE_UNAVAILABLE. */
    long suppressed;
    /** The report that opened the outage: the ids of its DATABASE_UNAVAILABLE and DATABASE_RECOVERED. */
    String outage;
    /** When the outage began (processing time). */
    long outageSince;
    /** Outages seen: numbers the next one's id (restored with the state, so a replay numbers it alike). */
    long outages;

    /** Alerts folded into one ALERT_SUMMARY: of one type, in one minute, for one reason (and consumer). */
    static final class Summary {
        String type;
        /** The consumer whose BACKLOG folds it, or null for the budget's summary. */
        String consumer;

        long count;
        long firstTs = Long.MAX_VALUE;
        long lastTs = Long.MIN_VALUE;
        Severity severity = Severity.INFO;
        final TreeSet<String> sample = new TreeSet<>();

        void add(String deviceId, long ts, Severity s) {
            count++;
            firstTs = Math.min(firstTs, ts);
            lastTs = Math.max(lastTs, ts);
            if (s.compareTo(severity) > 0) severity = s;
            if (deviceId != null
                    && (sample.size() < SAMPLE || deviceId.compareTo(sample.last()) < 0)
                    && sample.add(deviceId)
                    && sample.size() > SAMPLE) {
                sample.pollLast();
            }
        }
    }

    /** How many breakers are open. */
    int breakersOpen() {
        int n = 0;
        for (BreakerReport b : breakers.values()) if (b.open) n++;
        return n;
    }

    public byte[] encode() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeByte(VERSION);
            out.writeBoolean(hasWindow);
            out.writeLong(windowStart);
            out.writeInt(published);
            out.writeInt(summaries.size());
            for (Summary s : summaries.values()) {
                out.writeUTF(s.type);
                writeNullable(out, s.consumer);
                out.writeLong(s.count);
                out.writeLong(s.firstTs);
                out.writeLong(s.lastTs);
                out.writeByte(s.severity.ordinal());
                out.writeByte(s.sample.size());
                for (String id : s.sample) out.writeUTF(id);
            }
            out.writeInt(backlogOpen.size());
            for (String c : backlogOpen) out.writeUTF(c);
            out.writeInt(breakers.size());
            for (BreakerReport b : breakers.values()) {
                out.writeInt(b.subtask);
                out.writeInt(b.parallelism);
                out.writeLong(b.incarnation);
                out.writeLong(b.generation);
                out.writeBoolean(b.open);
                out.writeLong(b.restoredFrom); // format 2
            }
            out.writeBoolean(databaseUnavailable);
            out.writeLong(suppressed);
            writeNullable(out, outage);
            out.writeLong(outageSince);
            out.writeLong(outages);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    public static PolicyState decode(byte[] bytes) {
        PolicyState p = new PolicyState();
        if (bytes == null) return p;
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
            byte v = in.readByte();
            if (v != 1 && v != VERSION)
                throw new IllegalStateException(
                        "AlertPolicy state of format " + v + ", this build reads 1 to " + VERSION);
            p.hasWindow = in.readBoolean();
            p.windowStart = in.readLong();
            p.published = in.readInt();
            for (int i = in.readInt(); i > 0; i--) {
                Summary s = new Summary();
                s.type = in.readUTF();
                s.consumer = readNullable(in);
                s.count = in.readLong();
                s.firstTs = in.readLong();
                s.lastTs = in.readLong();
                s.severity = Severity.values()[in.readByte()];
                for (int k = in.readByte(); k > 0; k--) s.sample.add(in.readUTF());
                p.summaries.put(s.consumer == null ? "" : s.consumer, s);
            }
            for (int i = in.readInt(); i > 0; i--) p.backlogOpen.add(in.readUTF());
            for (int i = in.readInt(); i > 0; i--) {
                BreakerReport b =
                        new BreakerReport(in.readInt(), in.readInt(), in.readLong(), in.readLong(), in.readBoolean());
                // Format 1 did not know where an incarnation started (-1: ordered as before).
                if (v >= 2) b.restoredFrom = in.readLong();
                p.breakers.put(b.subtask, b);
            }
            p.databaseUnavailable = in.readBoolean();
            p.suppressed = in.readLong();
            p.outage = readNullable(in);
            p.outageSince = in.readLong();
            p.outages = in.readLong();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p;
    }

    /** Drops the breakers of subtasks the job no longer has (after a rescale down). */
    void forgetSubtasksFrom(int parallelism) {
        for (Iterator<Integer> it = breakers.keySet().iterator(); it.hasNext(); )
            if (it.next() >= parallelism) it.remove();
    }

    private static void writeNullable(DataOutputStream out, String s) throws IOException {
        out.writeBoolean(s != null);
        if (s != null) out.writeUTF(s);
    }

    private static String readNullable(DataInputStream in) throws IOException {
        return in.readBoolean() ? in.readUTF() : null;
    }
}
