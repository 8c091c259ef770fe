package io.devicesync.operators.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

/**
 * On RocksDB a queue is ordered by its elements' bytes, across key groups by their priority: the
 * two must agree, and the bytes must read back as the element.
 */
class QueuedAttemptTest {
    private static byte[] bytes(QueuedAttempt q) throws Exception {
        DataOutputSerializer out = new DataOutputSerializer(32);
        QueuedAttempt.Serializer.INSTANCE.serialize(q, out);
        return out.getCopyOfBuffer();
    }

    private static String randomId(Random r) {
        StringBuilder s = new StringBuilder();
        int n = r.nextInt(6);
        String alphabet = "ab\u0000\u007f\u0080\u07ff\u0800\uffff\ud83d\ude00-_9Zé";
        for (int i = 0; i < n; i++) s.append(alphabet.charAt(r.nextInt(alphabet.length())));
        return s.toString();
    }

    @Test
    void theBytesSortAsThePriorityAndReadBack() throws Exception {
        Random r = new Random(42);
        long[] times = {Long.MIN_VALUE, -5, -1, 0, 1, 7, 1_800_000_000_000L, Long.MAX_VALUE};
        int[] sizes = {Integer.MIN_VALUE, -1, 0, 1, 300, Integer.MAX_VALUE};
        List<QueuedAttempt> all = new ArrayList<>();
        for (int i = 0; i < 3000; i++) {
            all.add(new QueuedAttempt(times[r.nextInt(times.length)], sizes[r.nextInt(sizes.length)], randomId(r)));
        }
        for (int i = 0; i < all.size() - 1; i++) {
            QueuedAttempt a = all.get(i);
            QueuedAttempt b = all.get(i + 1);
            int byPriority = Integer.signum(a.comparePriorityTo(b));
            int byBytes = Integer.signum(Arrays.compareUnsigned(bytes(a), bytes(b)));
            assertEquals(byPriority, byBytes, a + " against " + b);
            DataInputDeserializer in = new DataInputDeserializer(bytes(a));
            assertEquals(a, QueuedAttempt.Serializer.INSTANCE.deserialize(in));
            assertEquals(0, in.available(), "self-delimiting: a heap snapshot writes them one after another");
        }
    }

    @Test
    void plainIdsCompareAsStrings() {
        assertEquals(-1, Integer.signum(QueuedAttempt.compareIds("a", "b")));
        assertEquals(-1, Integer.signum(QueuedAttempt.compareIds("ab", "b")));
        assertEquals(-1, Integer.signum(QueuedAttempt.compareIds("meter-1", "meter-10")));
        assertEquals(0, QueuedAttempt.compareIds("x", "x"));
    }
}
