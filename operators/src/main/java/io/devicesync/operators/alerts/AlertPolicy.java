package io.devicesync.operators.alerts;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.Alerts;
import io.devicesync.model.BreakerReport;
import io.devicesync.model.Json;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Storm control between every operator's alerts and {@code device-alerts} (DESIGN.md, Alert:
 * Storm control), as plain rules: no Flink, the processing time passed in. One instance decides
 * for every key of the policy; the state is the key's ({@link PolicyState}: one key per alert
 * type, see {@link AlertRouting}).
 *
 * <ul>
 *   <li><b>Budget</b>: of a type, at most {@code maxPerMinute} are published one by one in a
 *       minute of processing time; the rest of the minute fold into one {@code ALERT_SUMMARY},
 *       published when the minute ends;
 *   <li><b>database inhibition</b> (key RESYNC_FAILED): the breakers' reports tell whether one is
 *       open anywhere: the first that opens publishes {@code DATABASE_UNAVAILABLE}, the last that
 *       closes {@code DATABASE_RECOVERED} (with the count suppressed); between them the
 *       RESYNC_FAILED whose lookup could not read the database are not published;
 *   <li><b>backlog inhibition</b> (keys UNCONSUMED, REDISPATCH_EXHAUSTED): while a consumer's
 *       BACKLOG is open, its alerts of the type fold into a summary of that consumer per minute.
 * </ul>
 * Nothing else is held back; every alert folded or suppressed is counted ({@link Effects}).
 */
public final class AlertPolicy {
    /** A minute: the budget's window by default ({@code --alerts.window}). */
    public static final long WINDOW_MS = 60_000;
    /** Where a RESYNC_FAILED says its lookup could not read the database (see Reconciliation). */
    public static final String DATABASE_CAUSE = "\"databaseUnavailable\":true";

    private final int maxPerMinute;
    private final long windowMs;

    public AlertPolicy(int maxPerMinute) {
        this(maxPerMinute, WINDOW_MS);
    }

    /** {@code maxPerMinute} per window of {@code windowMs} (a minute in the contract; shorter in tests). */
    public AlertPolicy(int maxPerMinute, long windowMs) {
        if (maxPerMinute < 0) throw new IllegalArgumentException("--alerts.max-per-minute must not be negative");
        if (windowMs < 1) throw new IllegalArgumentException("--alerts.window must be at least 1 ms");
        this.maxPerMinute = maxPerMinute;
        this.windowMs = windowMs;
    }

    /** What the rules do: publish an alert, count what they folded or suppressed. */
    public interface Effects {
        void publish(Alert alert);

        /** An alert of {@code type} went into a summary. */
        void summarized(String type);

        /** An alert of {@code type} was not published (database inhibition). */
        void suppressed(String type);
    }

    /** An alert routed to this key: published, folded or suppressed. */
    public void onAlert(PolicyState s, Alert a, long now, Effects fx) {
        roll(s, now, fx);
        if (a.type == AlertType.RESYNC_FAILED && a.breaker != null && a.breaker.open) {
            // Refused by an open breaker: in the outage that breaker's report opened, whenever it
            // arrives. Its report may not have reached the policy yet (it rides through another
            // reconciler subtask): it does now. An earlier incarnation's (replayed from an unaligned
            // checkpoint's records in flight) is older and changes nothing (isNewer).
            // Or the outage's closing report got here first (the breaker's probe succeeded through
            // another subtask): the failure is still that outage's, counted in the metrics only
            // (its DATABASE_RECOVERED is out, and a later outage's count is not this one's).
            if (isNewer(s, a.breaker)) onBreaker(s, a.breaker, now, fx);
            BreakerReport known = s.breakers.get(a.breaker.subtask);
            boolean current = known != null
                    && known.incarnation == a.breaker.incarnation
                    && known.generation == a.breaker.generation;
            if (s.databaseUnavailable && current) s.suppressed++;
            fx.suppressed(a.type.name());
            return;
        }
        if (a.type == AlertType.RESYNC_FAILED && s.databaseUnavailable && isDatabaseCause(a)) {
            s.suppressed++;
            fx.suppressed(a.type.name());
            return;
        }
        if (a.consumer != null
                && s.backlogOpen.contains(a.consumer)
                && (a.type == AlertType.UNCONSUMED || a.type == AlertType.REDISPATCH_EXHAUSTED)) {
            fold(s, a.consumer, a);
            fx.summarized(a.type.name());
            return;
        }
        if (s.published < maxPerMinute) {
            s.published++;
            fx.publish(a);
            return;
        }
        fold(s, "", a);
        fx.summarized(a.type.name());
    }

    /** A consumer's BACKLOG opened ({@code open}) or cleared: its alerts of this key fold, or not. */
    public void onBacklog(PolicyState s, String consumer, boolean open) {
        if (open) s.backlogOpen.add(consumer);
        else s.backlogOpen.remove(consumer);
    }

    /** A lookup subtask's breaker report: may open or end the database's outage. */
    public void onBreaker(PolicyState s, BreakerReport r, long now, Effects fx) {
        roll(s, now, fx);
        // An older report of the same incarnation, overtaken on its way, changes nothing.
        if (!isNewer(s, r)) return;
        s.breakers.put(r.subtask, r);
        s.forgetSubtasksFrom(r.parallelism);
        int open = s.breakersOpen();
        if (open > 0 && !s.databaseUnavailable) {
            s.databaseUnavailable = true;
            s.suppressed = 0;
            // Numbered, not named by the report: a replay after a restore opens it with another
            // incarnation's report, and the same number.
            s.outage = Long.toString(++s.outages);
            s.outageSince = now;
            fx.publish(databaseUnavailable(r, open, s.outage, now));
        } else if (open == 0 && s.databaseUnavailable) {
            s.databaseUnavailable = false;
            fx.publish(databaseRecovered(s.suppressed, s.outageSince, s.outage, now));
            s.suppressed = 0;
        }
    }

    /** The minute's timer (or any later input): publishes the summaries of minutes that ended. */
    public void onTime(PolicyState s, long now, Effects fx) {
        roll(s, now, fx);
    }

    /** When the state's summaries are due (their minute's end), or -1 when it has none. */
    public long summariesDue(PolicyState s) {
        return s.summaries.isEmpty() ? -1 : s.windowStart + windowMs;
    }

    /**
     * Whether {@code r} says more than the policy knows of its subtask: a later report of the same
     * incarnation, or a report of a later incarnation. Incarnations are ordered by the checkpoint
     * they started from: an unaligned checkpoint's records in flight, restored, carry reports of
     * incarnations that started from earlier checkpoints than the one restoring them. Two
     * incarnations that started from the same checkpoint (or either's start unknown: a report of an
     * earlier build) count the other as newer, as before: the reports of the one that failed first
     * were not in that checkpoint, so they cannot come again after the later one's.
     */
    static boolean isNewer(PolicyState s, BreakerReport r) {
        BreakerReport known = s.breakers.get(r.subtask);
        if (known == null) return true;
        if (known.incarnation == r.incarnation) return r.generation > known.generation;
        if (known.restoredFrom < 0 || r.restoredFrom < 0) return true;
        return r.restoredFrom >= known.restoredFrom;
    }

    /** Whether a RESYNC_FAILED failed because its lookup could not read the database. */
    static boolean isDatabaseCause(Alert a) {
        return a.details != null && a.details.contains(DATABASE_CAUSE);
    }

    /** Moves to the minute of {@code now}: the summaries of the minute before are published. */
    private void roll(PolicyState s, long now, Effects fx) {
        long window = now - Math.floorMod(now, windowMs);
        if (s.hasWindow && window == s.windowStart) return;
        if (s.hasWindow && window < s.windowStart) return; // a clock that went back: stay in the later minute
        List<PolicyState.Summary> due = new ArrayList<>(s.summaries.values());
        long start = s.windowStart;
        s.summaries.clear();
        for (PolicyState.Summary summary : due) fx.publish(summary(summary, start));
        s.hasWindow = true;
        s.windowStart = window;
        s.published = 0;
    }

    private static void fold(PolicyState s, String by, Alert a) {
        PolicyState.Summary summary = s.summaries.get(by);
        if (summary == null) {
            summary = new PolicyState.Summary();
            summary.type = a.type.name();
            summary.consumer = by.isEmpty() ? null : by;
            s.summaries.put(by, summary);
        }
        summary.add(a.deviceId, a.ts, a.severity == null ? Severity.INFO : a.severity);
    }

    private Alert summary(PolicyState.Summary s, long windowStart) {
        long windowEnd = windowStart + windowMs;
        String why = s.consumer == null
                ? "over the budget of " + maxPerMinute + " (--alerts.max-per-minute)"
                : "for consumer " + s.consumer + " while its BACKLOG is open";
        Alert a = Alerts.of(AlertType.ALERT_SUMMARY, s.severity)
                .consumer(s.consumer)
                .cause(s.count + " " + s.type + " alerts from " + Instant.ofEpochMilli(windowStart) + " to "
                        + Instant.ofEpochMilli(windowEnd) + " " + why)
                .strategy(Strategy.NONE)
                .ts(windowEnd)
                .build(s.type, Long.toString(windowStart), s.consumer == null ? "BUDGET" : "BACKLOG");
        ObjectNode d = Json.MAPPER.createObjectNode();
        d.put("summarizedType", s.type);
        d.put("count", s.count);
        d.put("windowStart", windowStart);
        d.put("windowEnd", windowEnd);
        d.put("firstTs", s.firstTs);
        d.put("lastTs", s.lastTs);
        ArrayNode sample = d.putArray("sampleDeviceIds");
        for (String id : s.sample) sample.add(id);
        d.put("reason", s.consumer == null ? "BUDGET" : "BACKLOG");
        a.details = d.toString();
        return a;
    }

    /** A breaker opened: the outage {@code outage} begins. */
    private static Alert databaseUnavailable(BreakerReport r, int open, String outage, long now) {
        return Alerts.of(AlertType.DATABASE_UNAVAILABLE, Severity.CRITICAL)
                .cause("a database circuit breaker opened (lookup subtask " + r.subtask + " of " + r.parallelism
                        + "): lookups fail fast; RESYNC_FAILED caused by the database are not published until every"
                        + " breaker is closed again; the devices' audits retry their repairs")
                .strategy(Strategy.RETRY_ON_AUDIT)
                .detail("breakersOpen", open)
                .detail("lookupSubtasks", r.parallelism)
                .ts(now)
                .build(outage);
    }

    /** Every breaker is closed again: the outage ends, with what it held back. */
    private static Alert databaseRecovered(long suppressed, long since, String outage, long now) {
        return Alerts.of(AlertType.DATABASE_RECOVERED, Severity.INFO)
                .cause("every database circuit breaker is closed again after " + (now - since) + " ms; " + suppressed
                        + " RESYNC_FAILED caused by the database were not published meanwhile")
                .strategy(Strategy.NONE)
                .detail("suppressed", suppressed)
                .detail("since", since)
                .ts(now)
                .build(outage);
    }
}
