package io.devicesync.operators.sync;

import io.devicesync.model.AuditRecord;
import io.devicesync.model.Increment;
import org.apache.flink.streaming.api.operators.YieldingOperator;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.api.watermark.Watermark;

/**
 * The SequenceGuard's operator: Flink's own for a keyed two-input process function, with one thing
 * more, which only an operator can say: its event-time timers may be interrupted. When event time
 * jumps (a restore after a long stop, the end of a catch-up), every device's audit that the jump
 * passed fires in one watermark step: 500,000 timers a subtask at 1,000,000 devices, about 3 s of
 * the task thread in RocksDB's timer queue. Flink fires them in one loop ahead of anything else,
 * the checkpoint barrier included, unless the operator opts in to interruptible timers
 * ({@code execution.checkpointing.unaligned.interruptible-timers.enabled}, which needs unaligned
 * checkpoints): then the loop stops whenever the task has mail (an unaligned barrier, a lookup's
 * result), and goes on after it. The watermark goes downstream once every timer it passed has fired,
 * as without.
 *
 * <p>The guard's rules hold either way. A record (or audit record) processed while a passed grace
 * timer still waits runs that grace's end first ({@code GuardRules.gracePassed}), as if the timer
 * had fired. An audit timer a long jump passed is armed anew at the device's slot by the record
 * ({@code GuardRules.armAudit}), as after a move; one a routine step passed stays armed and audits
 * when it fires, the record in between only making the device count as active for it. Without that
 * option in the job's configuration this operator is exactly Flink's.
 *
 * <p>A {@link YieldingOperator}: that is how Flink hands an operator the task's mailbox, which the
 * interrupted loop goes on from (Flink's own operators that opt in get it from their factories).
 */
public final class SequenceGuardOperator extends KeyedCoProcessOperator<String, Increment, AuditRecord, Increment>
        implements YieldingOperator<Increment> {
    private static final long serialVersionUID = 1L;

    /** The end of event time came (its loop may not be done). */
    private transient boolean endOfTime;

    public SequenceGuardOperator(SequenceGuard guard) {
        super(guard);
    }

    @Override
    public boolean useInterruptibleTimers() {
        return true;
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        if (mark.getTimestamp() == Long.MAX_VALUE) endOfTime = true;
        super.processWatermark(mark);
    }

    /**
     * A drained stop or the end of a bounded input: event time reached its end, which fires every
     * timer, and Flink 2.2.1 may finish the operator while that loop, interrupted, still waits to go
     * on (FLINK-39481): what the rest of the timers emit (the last gaps declared, the held messages
     * they release, the last audits) would come after the end of the data, or never. Here they fire
     * before the operator finishes, and the end of time goes downstream after them. With nothing left
     * (the loop was done) this fires nothing and sends the end of time again, which changes nothing.
     */
    @Override
    public void finish() throws Exception {
        if (endOfTime && getTimeServiceManager().isPresent()) {
            getTimeServiceManager().get().advanceWatermark(Watermark.MAX_WATERMARK);
            output.emitWatermark(Watermark.MAX_WATERMARK);
        }
        super.finish();
    }
}
