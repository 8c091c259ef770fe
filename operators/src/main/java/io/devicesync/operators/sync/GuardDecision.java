package io.devicesync.operators.sync;

import io.devicesync.model.Alert;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.operators.GuardState;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * What {@link GuardRules} decided for one input or timer of one device, as a value: the increments
 * to forward (in order), alerts, lookup requests, event-time timers to delete and register (in
 * order: one timestamp may be deleted and registered again), events to count, and whether the
 * device's state is saved or forgotten. The SequenceGuard applies it and nothing else.
 *
 * <p>One instance is reused per subtask ({@link #reset}): the hot path allocates nothing for it.
 */
public final class GuardDecision {
    /** Counted events (each a metric of the job). */
    public enum Event {
        FORWARDED,
        DUPLICATE,
        GAP,
        RESET,
        LOOKUP,
        HELD,
        AUDIT,
        FORGOTTEN,
        SEEDED,
        SEED_SKIPPED
    }

    /** A timer change: register ({@code register}) or delete an event-time timer. */
    public record TimerOp(boolean register, long time) {}

    public final List<Increment> forward = new ArrayList<>();
    public final List<Alert> alerts = new ArrayList<>();
    public final List<LookupRequest> lookups = new ArrayList<>();
    public final List<TimerOp> timers = new ArrayList<>();
    public final Map<Event, Integer> counts = new EnumMap<>(Event.class);
    /** The device's state after the decision (saved when {@link #save}). */
    public GuardState state;

    public boolean save;
    /** The device is forgotten: its state cleared (held messages already removed). */
    public boolean forget;

    GuardDecision reset(GuardState s) {
        forward.clear();
        alerts.clear();
        lookups.clear();
        timers.clear();
        counts.clear();
        state = s;
        save = false;
        forget = false;
        return this;
    }

    void count(Event e) {
        counts.merge(e, 1, Integer::sum);
    }

    void register(long t) {
        timers.add(new TimerOp(true, t));
    }

    void delete(long t) {
        timers.add(new TimerOp(false, t));
    }

    int count(Event e, int none) {
        return counts.getOrDefault(e, none);
    }

    @Override
    public String toString() {
        return "GuardDecision{forward=" + forward.size() + ", alerts=" + alerts + ", lookups=" + lookups.size()
                + ", timers=" + timers + ", counts=" + counts + ", save=" + save + ", forget=" + forget + "}";
    }
}
