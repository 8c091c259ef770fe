package io.devicesync.operators.delivery;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.Alerts;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import io.devicesync.model.Versions;

/**
 * The delivery stage's alerts, one method each (type, severity, strategy, cause, details, the
 * parts of the id); {@link DeliveryRules} and {@link SchedulerRules} decide when.
 */
final class DeliveryAlerts {
    private DeliveryAlerts() {}

    /** {@code consumer} did not acknowledge the first unacknowledged version within its deadline. */
    static Alert unconsumed(String deviceId, ConsumerTrack c, long at) {
        return Alerts.of(AlertType.UNCONSUMED, Severity.WARNING)
                .device(deviceId)
                .consumer(c.name)
                .cause(c.name + " did not acknowledge " + Versions.format(c.firstEpoch, c.firstSeq)
                        + " within its deadline; redispatching")
                .strategy(Strategy.REDISPATCH)
                .detail("epoch", c.firstEpoch)
                .detail("seq", c.firstSeq)
                .detailOrNull("ackedEpoch", c.hasAck() ? c.ackEpoch : -1)
                .detailOrNull("ackedSeq", c.hasAck() ? c.ackSeq : -1)
                .ts(at)
                .build(Long.toString(c.firstEpoch), Long.toString(c.firstSeq));
    }

    /** The consumer's backlog passed its threshold (episode {@code episode}). */
    static Alert backlog(String consumer, long backlog, long threshold, long episode, long now) {
        return Alerts.of(AlertType.BACKLOG, Severity.WARNING)
                .consumer(consumer)
                .cause(consumer + " has not confirmed " + backlog + " devices (threshold " + threshold + ")")
                .strategy(Strategy.REDISPATCH)
                .detail("backlog", backlog)
                .detail("threshold", threshold)
                .detail("backlogEpisode", episode)
                .ts(now)
                .build(Long.toString(episode));
    }

    /** The consumer's backlog is down to half its threshold: the episode ends. */
    static Alert backlogCleared(String consumer, long backlog, long threshold, long episode, long now) {
        return Alerts.of(AlertType.BACKLOG_CLEARED, Severity.INFO)
                .consumer(consumer)
                .cause(consumer + "'s backlog is down to " + backlog + " devices")
                .strategy(Strategy.NONE)
                .detail("backlog", backlog)
                .detail("threshold", threshold)
                .detail("backlogEpisode", episode)
                .ts(now)
                .build(Long.toString(episode));
    }

    /** The attempts are spent: the last one is dead-lettered and the device parked for the consumer. */
    static Alert redispatchExhausted(String deviceId, String consumer, long epoch, long seq, int sent, long now) {
        return Alerts.of(AlertType.REDISPATCH_EXHAUSTED, Severity.CRITICAL)
                .device(deviceId)
                .consumer(consumer)
                .cause(consumer + " acknowledged nothing from " + Versions.format(epoch, seq) + " after " + sent
                        + " redispatch(es); the last one is on the dead-letter topic and the device is parked"
                        + " for " + consumer + " until it acknowledges again")
                .strategy(Strategy.DEAD_LETTER)
                .detail("epoch", epoch)
                .detail("seq", seq)
                .detail("attempts", sent)
                .ts(now)
                .build(Long.toString(epoch), Long.toString(seq));
    }
}
