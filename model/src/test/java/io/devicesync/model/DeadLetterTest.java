package io.devicesync.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class DeadLetterTest {
    private static byte[] bytes(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) i;
        return b;
    }

    @Test
    void aValueOverTheInputsLimitIsCutToItWithItsOriginalSize() {
        byte[] value = bytes(16 * 1024 + 1);
        DeadLetter d = DeadLetter.of(null, value, 16 * 1024, RejectReason.TOO_LARGE, "acks", 1, 2, 3);
        assertArrayEquals(Arrays.copyOf(value, 16 * 1024), d.value);
        assertEquals(value.length, d.originalValueSize);
        assertEquals(-1, d.originalKeySize);
        assertNull(d.key);
    }

    @Test
    void aKeyOverOneKibibyteIsCutToItWithItsOriginalSize() {
        byte[] key = bytes(1025);
        DeadLetter d = DeadLetter.of(key, bytes(10), 64 * 1024, RejectReason.KEY_MISMATCH, "events", 0, 0, 0);
        assertArrayEquals(Arrays.copyOf(key, 1024), d.key);
        assertEquals(1025, d.originalKeySize);
        assertEquals(-1, d.originalValueSize);
        assertArrayEquals(bytes(10), d.value);
    }

    @Test
    void withinTheLimitsNothingIsCutNorCopied() {
        byte[] key = bytes(1024);
        byte[] value = bytes(64 * 1024);
        DeadLetter d = DeadLetter.of(key, value, 64 * 1024, RejectReason.NOT_JSON, "events", 0, 0, 0);
        assertSame(key, d.key);
        assertSame(value, d.value);
        assertEquals(-1, d.originalKeySize);
        assertEquals(-1, d.originalValueSize);
        assertSame(d, d.bounded());
        DeadLetter tombstone = DeadLetter.of(null, null, 64 * 1024, RejectReason.NULL_VALUE, "events", 0, 0, 0);
        assertNull(tombstone.value);
        assertEquals(-1, tombstone.originalValueSize);
    }

    @Test
    void boundedCutsWhatWasSetAroundTheFactory() {
        DeadLetter d = new DeadLetter();
        d.value = bytes(3 * 1024 * 1024);
        d.key = bytes(10);
        d.reason = RejectReason.INTERNAL_ERROR;
        DeadLetter b = d.bounded();
        assertEquals(DeadLetter.MAX_VALUE_BYTES, b.value.length);
        assertEquals(3 * 1024 * 1024, b.originalValueSize);
        assertArrayEquals(bytes(10), b.key);
        assertEquals(-1, b.originalKeySize);
        assertEquals(RejectReason.INTERNAL_ERROR, b.reason);
    }
}
