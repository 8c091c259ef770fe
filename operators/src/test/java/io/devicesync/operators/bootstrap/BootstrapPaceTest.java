package io.devicesync.operators.bootstrap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BootstrapPaceTest {
    private static final long S = 1_000_000_000L;

    @Test
    void withoutARateTheNextChunkGoesAtOnce() {
        BootstrapPace p = new BootstrapPace(0, 5 * S);
        assertEquals(0, p.afterChunk(1000, 0));
        assertEquals(0, p.afterChunk(1000, 1));
    }

    @Test
    void aRateSpacesTheChunksByTheirRowsAndCreditDoesNotPileUp() {
        BootstrapPace p = new BootstrapPace(500, 5 * S);
        assertEquals(2 * S, p.afterChunk(1000, 0), "1000 rows at 500/s: the next chunk 2 s later");
        assertEquals(2 * S, p.afterChunk(1000, 2 * S));
        // The job was slow to take the rows (10 s instead of 2): the next goes at once, and the
        // credit is at most one chunk's, not four: the one after waits again.
        assertEquals(0, p.afterChunk(1000, 14 * S));
        assertEquals(S, p.afterChunk(1000, 15 * S), "a second after: one more second to wait");
        assertEquals(2 * S, p.afterChunk(1000, 16 * S));
    }

    @Test
    void failuresBackOffFromOneSecondToThirtyAndAChunkResetsThem() {
        BootstrapPace p = new BootstrapPace(0, 5 * S);
        assertEquals(S, p.afterFailure());
        assertEquals(2 * S, p.afterFailure());
        assertEquals(4 * S, p.afterFailure());
        assertEquals(8 * S, p.afterFailure());
        assertEquals(16 * S, p.afterFailure());
        assertEquals(30 * S, p.afterFailure());
        assertEquals(30 * S, p.afterFailure());
        assertEquals(7, p.failures());
        p.afterChunk(10, 0);
        assertEquals(0, p.failures());
        assertEquals(S, p.afterFailure());
    }

    @Test
    void progressIsLoggedEveryPeriod() {
        BootstrapPace p = new BootstrapPace(0, 5 * S);
        assertFalse(p.logDue(100));
        assertFalse(p.logDue(4 * S));
        assertTrue(p.logDue(5 * S + 100));
        assertFalse(p.logDue(6 * S));
        assertTrue(p.logDue(10 * S + 100));
    }
}
