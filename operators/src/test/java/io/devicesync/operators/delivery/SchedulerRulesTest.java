package io.devicesync.operators.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Alert;
import io.devicesync.model.Redispatch;
import io.devicesync.model.Severity;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The scheduler's rules on their own: episodes, the backlog and its alerts (no Flink). */
class SchedulerRulesTest {
    static final long NOW = 1_764_000_000_000L;

    private final SchedulerRules rules = new SchedulerRules();
    private final BacklogState st = new BacklogState();
    private final List<Redispatch> deadLetters = new ArrayList<>();
    private final List<Alert> alerts = new ArrayList<>();
    private final SchedulerRules.Effects fx = new SchedulerRules.Effects() {
        @Override
        public void deadLetter(Redispatch last) {
            deadLetters.add(last);
        }

        @Override
        public void alert(Alert alert) {
            alerts.add(alert);
        }
    };

    /** The event, the backlog kept as the operators keep it (the sum of the outcomes' changes). */
    private SchedulerRules.Outcome in(Episode en, DeliveryEvent e) {
        SchedulerRules.Outcome o = rules.onEvent("billing", en, e, NOW, fx);
        st.backlog += o.backlogDelta;
        return o;
    }

    private List<String> types() {
        return alerts.stream().map(a -> a.type.name()).collect(Collectors.toList());
    }

    @Test
    void anAttemptOpensAnEpisodeAndANewerOneReplacesItWhileQueued() {
        SchedulerRules.Outcome first = in(null, RedispatchSchedulerTest.attempt("billing", "d", NOW - 5_000, 1, 10));
        assertEquals(SchedulerRules.Store.PUT, first.store);
        assertTrue(first.entry.queued);
        assertEquals(1, st.backlog);
        first.entry.sent = 1;
        first.entry.queued = false;
        SchedulerRules.Outcome second =
                in(first.entry, RedispatchSchedulerTest.attempt("billing", "d", NOW - 5_000, 2, 10));
        assertSame(first.entry, second.entry, "the same episode");
        assertEquals(2, second.entry.attempt);
        assertTrue(second.entry.queued);
        assertEquals(1, second.entry.sent, "attempts sent so far stay");
        assertEquals(1, st.backlog, "still one device");
        DeliveryEvent other = RedispatchSchedulerTest.attempt("billing", "d", NOW - 1_000, 1, 10);
        other.seq = 9;
        assertEquals(0, in(second.entry, other).entry.sent, "another episode counts afresh");
        assertEquals(List.of(), alerts);
    }

    @Test
    void exhaustionDeadLettersTheLastAttemptParksAndAlertsOnce() {
        Episode en = in(null, RedispatchSchedulerTest.attempt("billing", "d", NOW - 5_000, 3, 10)).entry;
        en.sent = 3;
        SchedulerRules.Outcome o = in(en, RedispatchSchedulerTest.event(DeliveryEvent.Kind.EXHAUSTED, "billing", "d"));
        assertEquals(SchedulerRules.Store.PUT, o.store);
        assertTrue(o.entry.parked);
        assertFalse(o.entry.queued);
        assertNull(o.entry.state, "a parking keeps no document");
        assertEquals(List.of(), deadLetters, "not yet: at its turn");
        assertEquals(List.of(), types());
        PendingDeadLetter dl = o.deadLetter;
        assertEquals(NOW - 5_000, dl.waitingSince, "in the queue's order: the episode's");
        rules.deadLetter("billing", "d", dl, NOW, fx);
        assertEquals(1, deadLetters.size());
        assertEquals(3, deadLetters.get(0).attemptsSent);
        assertEquals(3, deadLetters.get(0).attempt, "the last attempt's record");
        assertEquals(List.of("REDISPATCH_EXHAUSTED"), types());
        assertEquals(Severity.CRITICAL, alerts.get(0).severity);
        assertEquals(1, st.backlog, "a parked device stays in the backlog");
    }

    @Test
    void aCloseEndsTheEpisodeAndOneWithoutAnEntryChangesNothing() {
        Episode en = in(null, RedispatchSchedulerTest.attempt("billing", "d", NOW, 1, 10)).entry;
        DeliveryEvent closed = RedispatchSchedulerTest.event(DeliveryEvent.Kind.CLOSED, "billing", "d");
        assertEquals(SchedulerRules.Store.REMOVE, in(en, closed).store);
        assertEquals(0, st.backlog);
        assertEquals(SchedulerRules.Store.NONE, in(null, closed).store);
        assertEquals(0, st.backlog, "not below zero");
    }

    @Test
    void theBacklogAlertsOnceAboveTheThresholdAndClearsAtHalfOfIt() {
        st.backlog = 10;
        rules.backlog(st, "billing", 10, NOW, fx);
        assertEquals(List.of(), types(), "at the threshold: not above it");
        st.backlog = 11;
        rules.backlog(st, "billing", 10, NOW, fx);
        st.backlog = 12;
        rules.backlog(st, "billing", 10, NOW, fx);
        st.backlog = 6;
        rules.backlog(st, "billing", 10, NOW, fx);
        assertEquals(List.of("BACKLOG"), types(), "one, however the backlog moves above half");
        st.backlog = 5;
        rules.backlog(st, "billing", 10, NOW, fx);
        assertEquals(List.of("BACKLOG", "BACKLOG_CLEARED"), types());
        assertEquals(1, st.backlogEpisode);
    }

    /** After an upgrade the tracker tells what the scheduler of the earlier build knew: counted, nothing sent. */
    @Test
    void anEpisodeOrParkingToldAfterAnUpgradeCountsOnceAndSendsNothing() {
        DeliveryEvent open = RedispatchSchedulerTest.event(DeliveryEvent.Kind.OPEN, "billing", "d");
        open.attempt = 2;
        open.state = null;
        SchedulerRules.Outcome o = in(null, open);
        assertEquals(SchedulerRules.Store.PUT, o.store);
        assertFalse(o.entry.queued, "nothing to send: the next attempt brings the state");
        assertFalse(o.entry.parked);
        assertEquals(1, st.backlog);
        assertEquals(SchedulerRules.Store.NONE, in(o.entry, open).store, "known already");
        assertEquals(1, st.backlog);
        SchedulerRules.Outcome exhausted =
                in(o.entry, RedispatchSchedulerTest.event(DeliveryEvent.Kind.EXHAUSTED, "billing", "d"));
        rules.deadLetter("billing", "d", exhausted.deadLetter, NOW, fx);
        assertEquals(1, deadLetters.size(), "the exhaustion's own state is the dead letter");
        assertEquals(2, deadLetters.get(0).attemptsSent, "the attempts fallen due stand in for those sent");
        assertTrue(exhausted.entry.parked);
        assertEquals(1, st.backlog);
        DeliveryEvent parked = RedispatchSchedulerTest.event(DeliveryEvent.Kind.PARKED, "billing", "p");
        parked.state = null;
        assertTrue(in(null, parked).entry.parked);
        assertEquals(2, st.backlog);
        assertEquals(List.of("REDISPATCH_EXHAUSTED"), types(), "only the exhaustion alerts");
    }
}
