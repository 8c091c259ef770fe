package io.devicesync.operators.delivery;

import io.devicesync.model.Ack;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Versions;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * What the DeliveryTracker does for one device, without Flink: the per-consumer state machine of
 * DESIGN.md's "Delivery" (IDLE → PENDING → OPEN episode with attempts → PARKED; an ack ends it),
 * tested with plain JUnit. The tracker loads the state, calls one of these, emits through
 * {@link Effects} and saves.
 */
public final class DeliveryRules {
    /** Publications remembered per device (see {@link DeliveryState#pubAt}). */
    static final int MAX_PUBLICATIONS = 32;

    /** What the rules ask the operator to emit. */
    public interface Effects {
        /** An episode opened: one UNCONSUMED alert. */
        void unconsumed(String deviceId, ConsumerTrack c, long at);

        /** Attempt {@code c.attempt} fell due: send the latest state. */
        void attempt(String deviceId, ConsumerTrack c, DeviceState latest);

        /** The last attempt's deadline passed without an ack. */
        void exhausted(String deviceId, ConsumerTrack c, DeviceState latest);

        /** An ack ended the consumer's episode or parking ({@code c} as it was). */
        void closed(String deviceId, ConsumerTrack c);
    }

    public enum AckOutcome {
        /** Moved the consumer's position. */
        APPLIED,
        /** At or behind the position: late, duplicate or reordered; nothing changed. */
        STALE,
        /** Not in {@code --delivery.consumers}: counted and ignored. */
        UNKNOWN_CONSUMER
    }

    private final List<String> consumers;
    /** Each listed consumer's schedule (its own ack timeout, attempts and backoff). */
    private final Map<String, DeliverySchedule> schedules;
    /** A quiet device keeps its positions this long: the longest deadline of any consumer. */
    private final DeliverySchedule longest;

    /** Every consumer on the same schedule. */
    public DeliveryRules(List<String> consumers, DeliverySchedule schedule) {
        this(consumers, sameFor(consumers, schedule));
    }

    /** @param schedules each listed consumer's schedule, by name (one for each of {@code consumers}) */
    public DeliveryRules(List<String> consumers, Map<String, DeliverySchedule> schedules) {
        this.consumers = List.copyOf(consumers);
        this.schedules = Map.copyOf(schedules);
        for (String c : consumers) {
            if (!schedules.containsKey(c)) throw new IllegalArgumentException("no delivery schedule for " + c);
        }
        DeliverySchedule l = null;
        for (DeliverySchedule d : schedules.values()) if (l == null || d.deadline(0) > l.deadline(0)) l = d;
        this.longest = l;
    }

    /** {@code schedule} for each of {@code consumers}. */
    public static Map<String, DeliverySchedule> sameFor(List<String> consumers, DeliverySchedule schedule) {
        Map<String, DeliverySchedule> m = new java.util.LinkedHashMap<>();
        for (String c : consumers) m.put(c, schedule);
        return m;
    }

    private DeliverySchedule schedule(ConsumerTrack c) {
        return schedules.get(c.name);
    }

    public List<String> consumers() {
        return consumers;
    }

    /**
     * The state with one track per listed consumer, in the list's order: tracks of consumers still
     * listed are kept, new consumers start idle (they are owed versions published from now on),
     * tracks of consumers no longer listed are dropped. {@code s} may be null (a new device).
     */
    public DeliveryState align(DeliveryState s) {
        if (s == null) s = new DeliveryState();
        ConsumerTrack[] have = s.consumers == null ? new ConsumerTrack[0] : s.consumers;
        boolean same = have.length == consumers.size();
        for (int i = 0; same && i < have.length; i++) same = consumers.get(i).equals(have[i].name);
        if (same) return s;
        ConsumerTrack[] now = new ConsumerTrack[consumers.size()];
        for (int i = 0; i < now.length; i++) {
            String name = consumers.get(i);
            ConsumerTrack found = null;
            for (ConsumerTrack c : have) if (name.equals(c.name)) found = c;
            now[i] = found != null ? found : new ConsumerTrack(name);
        }
        s.consumers = now;
        return s;
    }

    /** Version {@code v} was published at event time {@code at}. */
    public void published(DeliveryState s, DeviceState v, long at) {
        s.published = true;
        s.epoch = v.epoch;
        s.seq = v.seq;
        remember(s, v.epoch, v.seq, at);
        for (ConsumerTrack c : s.consumers) {
            if (c.status != ConsumerTrack.Status.IDLE) continue; // pending, in an episode, or parked
            if (c.hasAck() && Versions.compare(c.ackEpoch, c.ackSeq, v.epoch, v.seq) >= 0) continue; // acked ahead
            c.status = ConsumerTrack.Status.PENDING;
            c.firstEpoch = v.epoch;
            c.firstSeq = v.seq;
            c.firstAt = at;
            c.due = schedule(c).deadline(at);
        }
        trim(s);
    }

    /** An ack at event time {@code at}. */
    public AckOutcome ack(DeliveryState s, String deviceId, Ack a, long at, Effects fx) {
        ConsumerTrack c = find(s, a.consumer);
        if (c == null) return AckOutcome.UNKNOWN_CONSUMER;
        if (c.hasAck() && Versions.compare(a.epoch, a.seq, c.ackEpoch, c.ackSeq) <= 0) return AckOutcome.STALE;
        c.ackEpoch = a.epoch;
        c.ackSeq = a.seq;
        boolean all = s.published && Versions.compare(a.epoch, a.seq, s.epoch, s.seq) >= 0;
        switch (c.status) {
            case IDLE:
                break;
            case PENDING:
                if (all) {
                    c.status = ConsumerTrack.Status.IDLE;
                } else if (Versions.compare(a.epoch, a.seq, c.firstEpoch, c.firstSeq) >= 0) {
                    pendFrom(s, c, a);
                }
                break;
            case OPEN:
                if (Versions.compare(a.epoch, a.seq, c.lastDueEpoch, c.lastDueSeq) < 0) break; // the episode goes on
                fx.closed(deviceId, c);
                restart(s, c, a, all);
                break;
            case PARKED:
                fx.closed(deviceId, c);
                restart(s, c, a, all);
                break;
            default:
                throw new IllegalStateException(String.valueOf(c.status));
        }
        trim(s);
        return AckOutcome.APPLIED;
    }

    /** Latency of an ack: from the publication of the first version it newly acknowledges. */
    public static long ackLatency(ConsumerTrack before, long at) {
        return Math.max(0, at - before.firstAt);
    }

    /** After an episode or a parking ends: idle, or pending from the first version after the ack. */
    private void restart(DeliveryState s, ConsumerTrack c, Ack a, boolean all) {
        c.attempt = 0;
        if (all) {
            c.status = ConsumerTrack.Status.IDLE;
        } else {
            pendFrom(s, c, a);
        }
    }

    /** Pending from the first remembered publication after the ack; its deadline from its own publication. */
    private void pendFrom(DeliveryState s, ConsumerTrack c, Ack a) {
        int i = 0;
        while (i < s.pubSeq.length - 1 && Versions.compare(s.pubEpoch[i], s.pubSeq[i], a.epoch, a.seq) <= 0) i++;
        c.status = ConsumerTrack.Status.PENDING;
        c.firstEpoch = s.pubEpoch[i];
        c.firstSeq = s.pubSeq[i];
        c.firstAt = s.pubAt[i];
        c.due = schedule(c).deadline(c.firstAt);
    }

    /**
     * Event time reached {@code now}: every step due by then, in order. When event time jumped past
     * a step by more than the ack timeout (the job was down, or replays a backlog), the attempt goes
     * now and the schedule continues from now: the consumer always gets its ack window before the
     * next attempt or the dead letter.
     */
    public void time(DeliveryState s, String deviceId, long now, Supplier<DeviceState> latestState, Effects fx) {
        DeviceState latest = null;
        for (ConsumerTrack c : s.consumers) {
            while ((c.status == ConsumerTrack.Status.PENDING || c.status == ConsumerTrack.Status.OPEN)
                    && c.due <= now) {
                if (c.status == ConsumerTrack.Status.PENDING) {
                    c.status = ConsumerTrack.Status.OPEN;
                    c.attempt = 0;
                    fx.unconsumed(deviceId, c, c.due);
                }
                DeliverySchedule schedule = schedule(c);
                if (c.attempt < schedule.maxAttempts) {
                    c.attempt++;
                    c.attemptDue = now - c.due > schedule.ackTimeout ? now : c.due;
                    c.lastDueEpoch = s.epoch;
                    c.lastDueSeq = s.seq;
                    if (latest == null) latest = latestState.get();
                    fx.attempt(deviceId, c, latest);
                    c.due = c.attempt < schedule.maxAttempts
                            ? schedule.nextAttempt(c.attemptDue, c.attempt, deviceId, c.name, c.firstEpoch, c.firstSeq)
                            : schedule.exhaustion(c.attemptDue);
                } else {
                    if (latest == null) latest = latestState.get();
                    fx.exhausted(deviceId, c, latest);
                    c.status = ConsumerTrack.Status.PARKED;
                }
            }
        }
    }

    /** The event time of the timer the device needs (rounded up to the second); MAX_VALUE for none. */
    public long nextTimer(DeliveryState s) {
        long min = Long.MAX_VALUE;
        for (ConsumerTrack c : s.consumers) {
            if (c.status == ConsumerTrack.Status.PENDING || c.status == ConsumerTrack.Status.OPEN)
                min = Math.min(min, c.due);
        }
        return min == Long.MAX_VALUE ? min : DeliverySchedule.roundUpToSecond(min);
    }

    /** When a device that went quiet at {@code now} is forgotten: one deadline later, on a whole second. */
    public long forgetAt(long now) {
        return DeliverySchedule.roundUpToSecond(longest == null ? now : longest.deadline(now));
    }

    /** Some consumer is parked, and none has anything pending or an open episode: nothing to time but its end. */
    public boolean parkedOnly(DeliveryState s) {
        boolean parked = false;
        for (ConsumerTrack c : s.consumers) {
            if (c.status == ConsumerTrack.Status.PENDING || c.status == ConsumerTrack.Status.OPEN) return false;
            if (c.status == ConsumerTrack.Status.PARKED) parked = true;
        }
        return parked;
    }

    /** Every listed consumer acknowledged everything: nothing is pending, nobody is parked. */
    public boolean quiet(DeliveryState s) {
        for (ConsumerTrack c : s.consumers) if (c.status != ConsumerTrack.Status.IDLE) return false;
        return true;
    }

    public static ConsumerTrack find(DeliveryState s, String consumer) {
        for (ConsumerTrack c : s.consumers) if (c.name.equals(consumer)) return c;
        return null;
    }

    private static void remember(DeliveryState s, long epoch, long seq, long at) {
        int n = s.pubSeq.length;
        s.pubEpoch = Arrays.copyOf(s.pubEpoch, n + 1);
        s.pubSeq = Arrays.copyOf(s.pubSeq, n + 1);
        s.pubAt = Arrays.copyOf(s.pubAt, n + 1);
        s.pubEpoch[n] = epoch;
        s.pubSeq[n] = seq;
        s.pubAt[n] = at;
    }

    /**
     * Forgets publications no consumer can still need (at or below every consumer's ack; the latest
     * is always kept) and, beyond {@link #MAX_PUBLICATIONS}, the oldest.
     */
    private static void trim(DeliveryState s) {
        int n = s.pubSeq.length;
        int drop = 0;
        while (drop < n - 1 && coveredByAll(s, s.pubEpoch[drop], s.pubSeq[drop])) drop++;
        drop = Math.max(drop, n - MAX_PUBLICATIONS);
        if (drop <= 0) return;
        s.pubEpoch = Arrays.copyOfRange(s.pubEpoch, drop, n);
        s.pubSeq = Arrays.copyOfRange(s.pubSeq, drop, n);
        s.pubAt = Arrays.copyOfRange(s.pubAt, drop, n);
    }

    private static boolean coveredByAll(DeliveryState s, long epoch, long seq) {
        for (ConsumerTrack c : s.consumers) {
            if (!c.hasAck() || Versions.compare(c.ackEpoch, c.ackSeq, epoch, seq) < 0) return false;
        }
        return true;
    }
}
