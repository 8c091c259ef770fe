package io.devicesync.operators.delivery;

import io.devicesync.model.Alert;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Redispatch;

/**
 * What the RedispatchScheduler decides for one device and consumer, as plain rules (no Flink, the
 * processing time passed in): how a tracker's event changes the device's episode and the
 * consumer's backlog; and what the DeliveryBacklog decides for a consumer: when its backlog raises
 * BACKLOG or BACKLOG_CLEARED (hysteresis: above the threshold, then at or below half of it). The
 * budget is {@link SendWindow}'s; the order of the waiting attempts is {@link QueuedAttempt}'s.
 * The operators load the entry (or the consumer's state), ask, and store what the answer says.
 */
public final class SchedulerRules {
    /** What the rules do besides changing the state: a dead letter, an alert. */
    public interface Effects {
        /** The last attempt of an exhausted episode, for {@code device-redispatch-dlq}. */
        void deadLetter(Redispatch last);

        void alert(Alert alert);
    }

    /** What to do with the device's entry after an event. */
    public enum Store {
        /** Keep {@link Outcome#entry} (new or changed): in the state and in the queue. */
        PUT,
        /** The episode is over: the entry goes, from the state and the queue. */
        REMOVE,
        /** Nothing changed. */
        NONE
    }

    /** The answer for one event. */
    public static final class Outcome {
        public final Store store;
        /** The entry to keep ({@link Store#PUT}); null otherwise. */
        public final Episode entry;
        /** The change of the consumer's backlog: +1 for a new entry, -1 for one removed. */
        public final int backlogDelta;
        /** An exhaustion's dead letter, to queue for its turn; null otherwise. */
        public final PendingDeadLetter deadLetter;

        private Outcome(Store store, Episode entry, int backlogDelta, PendingDeadLetter deadLetter) {
            this.store = store;
            this.entry = entry;
            this.backlogDelta = backlogDelta;
            this.deadLetter = deadLetter;
        }

        private Outcome(Store store, Episode entry, int backlogDelta) {
            this(store, entry, backlogDelta, null);
        }

        static final Outcome NONE = new Outcome(Store.NONE, null, 0);
        static final Outcome REMOVE = new Outcome(Store.REMOVE, null, -1);
    }

    /**
     * A tracker's event for the device of {@code entry} ({@code null}: the consumer has no entry
     * for it): an attempt opens or continues its episode (a newer one replaces an attempt still
     * queued), an exhaustion dead-letters the last attempt and parks the device, a close ends the
     * episode or the parking. The backlog counts the devices with an entry.
     */
    public Outcome onEvent(String consumer, Episode entry, DeliveryEvent e, long now, Effects fx) {
        Episode en = entry;
        int delta = 0;
        switch (e.kind) {
            case ATTEMPT:
                if (en == null) {
                    en = new Episode();
                    delta = 1;
                } else if (en.parked || en.epoch != e.epoch || en.seq != e.seq) {
                    // Another episode than the one kept (the tracker forgot the device meanwhile).
                    en.sent = 0;
                }
                en.parked = false;
                en.epoch = e.epoch;
                en.seq = e.seq;
                en.waitingSince = e.waitingSince;
                en.attempt = e.attempt;
                en.state = e.state;
                en.bytes = e.state.state.length + e.state.deviceId.length(); // what makes records differ in size
                en.queued = true; // replaces an attempt still queued
                return new Outcome(Store.PUT, en, delta);
            case EXHAUSTED:
                if (en == null) {
                    en = new Episode();
                    en.epoch = e.epoch;
                    en.seq = e.seq;
                    en.waitingSince = e.waitingSince;
                    en.attempt = e.attempt;
                    delta = 1;
                }
                // The dead letter waits for its turn in a queue and budget of its own: a consumer
                // down for a whole fleet gets its dead letters at the budget's rate, not all at once
                // (each with its alert, see deadLetter); an ack before its turn does not take it back.
                PendingDeadLetter dl = new PendingDeadLetter();
                DeviceState lastState = en.state != null ? en.state : e.state; // null: the tracker's copy expired
                if (lastState != null) {
                    dl.last = new Redispatch(lastState, consumer, en.attempt);
                    dl.last.attemptsSent = en.sent;
                    dl.bytes = lastState.state.length + lastState.deviceId.length();
                }
                dl.epoch = en.epoch;
                dl.seq = en.seq;
                dl.waitingSince = en.waitingSince;
                dl.sent = en.sent;
                en.parked = true;
                en.queued = false;
                en.state = null;
                return new Outcome(Store.PUT, en, delta, dl);
            case CLOSED:
                if (en == null) return Outcome.NONE; // nothing to close: nothing changes
                return Outcome.REMOVE;
            case OPEN:
            case PARKED:
                if (en != null) return Outcome.NONE; // known already
                en = new Episode();
                en.epoch = e.epoch;
                en.seq = e.seq;
                en.waitingSince = e.waitingSince;
                en.attempt = e.attempt;
                // What the scheduler of the earlier build sent is lost with its state: the attempts
                // fallen due stand in for it (a dead letter's devicesync.attempts).
                en.sent = e.attempt;
                en.parked = e.kind == DeliveryEvent.Kind.PARKED;
                return new Outcome(Store.PUT, en, 1);
            default:
                throw new IllegalStateException(String.valueOf(e.kind));
        }
    }

    /**
     * An exhausted episode's turn in the dead-letter budget: the last attempt's record for
     * {@code device-redispatch-dlq} (none if the device's document had expired) and one
     * REDISPATCH_EXHAUSTED.
     */
    public void deadLetter(String consumer, String deviceId, PendingDeadLetter dl, long now, Effects fx) {
        if (dl.last != null) fx.deadLetter(dl.last);
        fx.alert(DeliveryAlerts.redispatchExhausted(deviceId, consumer, dl.epoch, dl.seq, dl.sent, now));
    }

    /** BACKLOG when the backlog passes {@code threshold}, BACKLOG_CLEARED once it is down to half of it. */
    public void backlog(BacklogState st, String consumer, long threshold, long now, Effects fx) {
        if (!st.backlogOpen && st.backlog > threshold) {
            st.backlogOpen = true;
            st.backlogEpisode++;
            fx.alert(DeliveryAlerts.backlog(consumer, st.backlog, threshold, st.backlogEpisode, now));
        } else if (st.backlogOpen && st.backlog <= threshold / 2) {
            st.backlogOpen = false;
            fx.alert(DeliveryAlerts.backlogCleared(consumer, st.backlog, threshold, st.backlogEpisode, now));
        }
    }
}
