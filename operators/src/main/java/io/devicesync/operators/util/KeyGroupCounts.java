package io.devicesync.operators.util;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;

/**
 * A count over the keys of a keyed function (say, devices waiting for a repair), kept by key group
 * in union operator state, so that the gauge showing it is right at once after a restore, at any
 * parallelism, without reading a single key: every subtask writes the counts of its key groups,
 * and each restored subtask keeps those of the key groups it now owns.
 *
 * <p>The function calls {@link #initialize} from its {@code initializeState}, {@link #add} on the
 * task thread as keys change, and {@link #snapshot} from its {@code snapshotState}; {@link #total}
 * may be read from any thread (a gauge). A restore from state without these counts (a savepoint of
 * a build that did not keep them) starts them at zero.
 */
public final class KeyGroupCounts {
    private final String name;
    private transient ListState<long[]> state;
    private transient KeyGroupRange range;
    private transient int maxParallelism;
    private transient long[] counts;
    private transient AtomicLong total;
    /** Each key group's count as last {@link #reportChanges reported}; MIN_VALUE: never reported. */
    private transient long[] reported;

    /** Receives a key group's count (see {@link #reportChanges}). */
    public interface Report {
        void count(int keyGroup, long count);
    }

    /** @param name the operator state's name, unique in the function */
    public KeyGroupCounts(String name) {
        this.name = name;
    }

    public void initialize(FunctionInitializationContext ctx, TaskInfo task) throws Exception {
        maxParallelism = task.getMaxNumberOfParallelSubtasks();
        range = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(
                maxParallelism, task.getNumberOfParallelSubtasks(), task.getIndexOfThisSubtask());
        counts = new long[range.getNumberOfKeyGroups()];
        total = new AtomicLong();
        reported = new long[counts.length];
        // Restored: what was last reported before the snapshot is unknown; report every group once.
        if (ctx.isRestored()) java.util.Arrays.fill(reported, Long.MIN_VALUE);
        state = ctx.getOperatorStateStore()
                .getUnionListState(
                        new ListStateDescriptor<>(name, PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO));
        if (!ctx.isRestored()) return;
        long sum = 0;
        for (long[] entry : state.get()) {
            int group = (int) entry[0];
            if (!range.contains(group)) continue; // another subtask's
            counts[group - range.getStartKeyGroup()] += entry[1];
            sum += entry[1];
        }
        total.set(sum);
    }

    /** Every count back to zero (what was restored no longer holds), each reported once. */
    public void reset() {
        java.util.Arrays.fill(counts, 0);
        java.util.Arrays.fill(reported, Long.MIN_VALUE);
        total.set(0);
    }

    /** Adds {@code delta} to the count of {@code key}'s key group (the task thread). */
    public void add(Object key, long delta) {
        int group = KeyGroupRangeAssignment.assignToKeyGroup(key, maxParallelism);
        counts[group - range.getStartKeyGroup()] += delta;
        total.addAndGet(delta);
    }

    /** The count over this subtask's keys. */
    public long total() {
        return total.get();
    }

    /**
     * Reports the count of every key group that changed since its last report (after a restore:
     * of every key group this subtask owns, once), and notes them reported (the task thread).
     */
    public void reportChanges(Report to) {
        for (int i = 0; i < counts.length; i++) {
            if (counts[i] == reported[i]) continue;
            to.count(range.getStartKeyGroup() + i, counts[i]);
            reported[i] = counts[i];
        }
    }

    public void snapshot() throws Exception {
        List<long[]> entries = new ArrayList<>();
        for (int i = 0; i < counts.length; i++) {
            if (counts[i] != 0) entries.add(new long[] {range.getStartKeyGroup() + i, counts[i]});
        }
        state.update(entries);
    }
}
