package io.devicesync.operators.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.operators.util.RateLimitedLog;
import org.junit.jupiter.api.Test;
import org.slf4j.helpers.NOPLogger;

class CircuitBreakerTest {

    @Test
    void opensAfterConsecutiveFailuresOnlyAndFailsFastWhileOpen() {
        CircuitBreaker b = new CircuitBreaker(3, 1_000, 8_000);
        assertTrue(b.tryAcquire(0));
        assertNull(b.onFailure(0));
        assertNull(b.onFailure(0));
        assertNull(b.onSuccess(), "a success in between resets the count");
        assertNull(b.onFailure(0));
        assertNull(b.onFailure(0));
        assertEquals(CircuitBreaker.Transition.OPENED, b.onFailure(10));
        assertEquals(CircuitBreaker.State.OPEN, b.state());
        assertFalse(b.tryAcquire(500));
        assertFalse(b.tryAcquire(1_009));
    }

    @Test
    void halfOpensToOneProbeThatClosesOrReopensForLonger() {
        CircuitBreaker b = new CircuitBreaker(1, 1_000, 3_000);
        b.onFailure(0);
        assertTrue(b.tryAcquire(1_000), "the probe");
        assertEquals(CircuitBreaker.State.HALF_OPEN, b.state());
        assertFalse(b.tryAcquire(1_001), "one probe at a time");
        assertEquals(CircuitBreaker.Transition.REOPENED, b.onFailure(1_100));
        assertEquals(2_000, b.openPeriodMs(), "twice as long");
        assertFalse(b.tryAcquire(3_099));
        assertTrue(b.tryAcquire(3_100));
        b.onFailure(3_100);
        assertEquals(3_000, b.openPeriodMs(), "capped");
        assertTrue(b.tryAcquire(6_100));
        assertEquals(CircuitBreaker.Transition.CLOSED, b.onSuccess());
        assertEquals(CircuitBreaker.State.CLOSED, b.state());
        assertTrue(b.tryAcquire(6_101));
        assertTrue(b.tryAcquire(6_101), "closed: everything goes through");
        assertEquals(1_000, b.openPeriodMs(), "the period starts over");
    }

    @Test
    void aRateLimitedLogWritesOneLinePerPeriod() {
        RateLimitedLog log = new RateLimitedLog(NOPLogger.NOP_LOGGER, 10_000);
        assertTrue(log.warn(0, "first"));
        for (int i = 1; i < 1000; i++) assertFalse(log.warn(i, "flood"));
        assertTrue(log.warn(10_000, "next period"));
        assertFalse(log.warn(10_001, "again"));
    }
}
