package io.devicesync.operators.util;

import java.util.concurrent.atomic.LongAdder;
import org.apache.flink.metrics.Counter;

/**
 * A Flink {@link Counter} that may be incremented from any thread. Flink's own {@code SimpleCounter}
 * is not thread-safe; the async lookup completes on the database client's thread.
 */
public final class ThreadSafeCounter implements Counter {
    private final LongAdder count = new LongAdder();

    @Override
    public void inc() {
        count.increment();
    }

    @Override
    public void inc(long n) {
        count.add(n);
    }

    @Override
    public void dec() {
        count.decrement();
    }

    @Override
    public void dec(long n) {
        count.add(-n);
    }

    @Override
    public long getCount() {
        return count.sum();
    }
}
