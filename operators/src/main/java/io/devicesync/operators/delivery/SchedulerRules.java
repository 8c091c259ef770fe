package io.devicesync.operators.delivery;

import io.devicesync.model.Alert;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Redispatch;

/**
 * What the RedispatchScheduler decides for one consumer, as plain rules (no Flink, the processing
 * time passed in): how a tracker's event changes a device's episode and the consumer's backlog,
 * and when the backlog raises BACKLOG or BACKLOG_CLEARED (hysteresis: above the threshold, then
 * at or below half of it). The budget is {@link SendWindow}'s; the order of the waiting attempts is
 * {@link RedispatchQueue}'s. {@link RedispatchScheduler} loads the entry and the consumer's state,
 * asks, and stores what the answer says.
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
        public final EpisodeEntry entry;

        private Outcome(Store store, EpisodeEntry entry) {
            this.store = store;
            this.entry = entry;
        }

        static final Outcome NONE = new Outcome(Store.NONE, null);
        static final Outcome REMOVE = new Outcome(Store.REMOVE, null);
    }

    /**
     * A tracker's event for the device of {@code entry} ({@code null}: the consumer has no entry
     * for it): an attempt opens or continues its episode (a newer one replaces an attempt still
     * queued), an exhaustion dead-letters the last attempt and parks the device, a close ends the
     * episode or the parking. The backlog counts the devices with an entry.
     */
    public Outcome onEvent(
            SchedulerState st, String consumer, EpisodeEntry entry, DeliveryEvent e, long now, Effects fx) {
        EpisodeEntry en = entry;
        switch (e.kind) {
            case ATTEMPT:
                if (en == null) {
                    en = new EpisodeEntry();
                    st.backlog++;
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
                return new Outcome(Store.PUT, en);
            case EXHAUSTED:
                if (en == null) {
                    en = new EpisodeEntry();
                    en.epoch = e.epoch;
                    en.seq = e.seq;
                    en.waitingSince = e.waitingSince;
                    en.attempt = e.attempt;
                    st.backlog++;
                }
                DeviceState lastState = en.state != null ? en.state : e.state;
                if (lastState != null) { // none only if the tracker's copy expired (state TTL)
                    Redispatch last = new Redispatch(lastState, consumer, en.attempt);
                    last.attemptsSent = en.sent;
                    fx.deadLetter(last);
                }
                fx.alert(exhaustedAlert(e.deviceId, consumer, en, now));
                en.parked = true;
                en.queued = false;
                en.state = null;
                return new Outcome(Store.PUT, en);
            case CLOSED:
                if (en == null) return Outcome.NONE; // nothing to close: nothing changes
                st.backlog--;
                return Outcome.REMOVE;
            default:
                throw new IllegalStateException(String.valueOf(e.kind));
        }
    }

    /** BACKLOG when the backlog passes {@code threshold}, BACKLOG_CLEARED once it is down to half of it. */
    public void backlog(SchedulerState st, String consumer, long threshold, long now, Effects fx) {
        if (!st.backlogOpen && st.backlog > threshold) {
            st.backlogOpen = true;
            st.backlogEpisode++;
            fx.alert(DeliveryAlerts.backlog(consumer, st.backlog, threshold, st.backlogEpisode, now));
        } else if (st.backlogOpen && st.backlog <= threshold / 2) {
            st.backlogOpen = false;
            fx.alert(DeliveryAlerts.backlogCleared(consumer, st.backlog, threshold, st.backlogEpisode, now));
        }
    }

    private static Alert exhaustedAlert(String deviceId, String consumer, EpisodeEntry en, long now) {
        return DeliveryAlerts.redispatchExhausted(deviceId, consumer, en.epoch, en.seq, en.sent, now);
    }
}
