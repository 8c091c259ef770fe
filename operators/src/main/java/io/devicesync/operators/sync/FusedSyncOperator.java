package io.devicesync.operators.sync;

import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.operators.SyncFeedback;
import io.devicesync.operators.util.Tags;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import org.apache.flink.api.common.functions.DefaultOpenContext;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.event.WatermarkEvent;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.functions.async.ResultFuture;
import org.apache.flink.streaming.api.graph.StreamConfig;
import org.apache.flink.streaming.api.operators.BoundedMultiInput;
import org.apache.flink.streaming.api.operators.Output;
import org.apache.flink.streaming.api.operators.YieldingOperator;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.LatencyMarker;
import org.apache.flink.streaming.runtime.streamrecord.RecordAttributes;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.StreamTask;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;
import org.apache.flink.util.OutputTag;

/**
 * The fused sync step's operator: Flink's keyed two-input process operator around {@link FusedSync},
 * with the device's lookups answered into it. Why an operator and not a function: a lookup's
 * result must reach the same keyed state that asked for it, and the job graph has no cycle to send
 * it back on. So the lookups the function emits (on {@link Tags#LOOKUPS}) do not leave the
 * operator: {@link SnapshotLookup} sends them to the database as before, and each answer comes
 * back as a mail of the task's mailbox (Flink's Async I/O operator does the same), where it is
 * given to the function on its second input under the device's key, as if read from an input.
 * Nothing blocks the task thread and no Flink metric is touched off it.
 *
 * <p>What the Async I/O operator did besides, this one does too: the whole lookup's deadline
 * ({@code --snapshot.timeout}: then {@link SnapshotLookup#timeout}'s TIMED_OUT answer), the retries
 * of a FAILED attempt ({@link LookupRetry}), the bound on lookups waiting ({@code
 * --snapshot.capacity}: beyond it a lookup is answered UNAVAILABLE at once, shed as the database's
 * own bound sheds, since an operator in the middle of a device's decision cannot wait for a free
 * place), and the lookups in flight at a checkpoint, kept in it and sent again after a restore (in
 * union state: each subtask sends those of its own key groups, at any parallelism).
 *
 * <p>The interruptible timers and the end of event time are as in {@link SequenceGuardOperator}.
 */
public final class FusedSyncOperator extends KeyedCoProcessOperator<String, Increment, SyncFeedback, DeviceState>
        implements YieldingOperator<DeviceState>, BoundedMultiInput {
    private static final long serialVersionUID = 1L;

    /** The lookups in flight at a checkpoint, with their records' timestamps (Long.MIN_VALUE: none). */
    public static final String IN_FLIGHT = "lookupsInFlight";

    private final SnapshotLookup lookup;
    private final long timeoutMs;
    private final LookupRetry retry;
    private final int capacity;

    private transient MailboxExecutor mailbox;
    private transient Set<Pending> pending;
    private transient ListState<Tuple2<LookupRequest, Long>> inFlight;
    private transient List<Tuple2<LookupRequest, Long>> restored;
    private transient Counter shedAtCapacity;
    private transient boolean endOfTime;
    private transient int inputsEnded;

    public FusedSyncOperator(FusedSync sync, SnapshotLookup lookup, long timeoutMs, LookupRetry retry, int capacity) {
        super(sync);
        this.lookup = lookup;
        this.timeoutMs = timeoutMs;
        this.retry = retry;
        this.capacity = capacity;
    }

    @Override
    public void setMailboxExecutor(MailboxExecutor mailboxExecutor) {
        super.setMailboxExecutor(mailboxExecutor);
        this.mailbox = mailboxExecutor;
    }

    @Override
    protected void setup(
            StreamTask<?, ?> containingTask, StreamConfig config, Output<StreamRecord<DeviceState>> output) {
        super.setup(containingTask, config, new LookupsStayHere(output));
    }

    @Override
    public boolean useInterruptibleTimers() {
        return true;
    }

    @Override
    public void initializeState(StateInitializationContext ctx) throws Exception {
        super.initializeState(ctx);
        inFlight = ctx.getOperatorStateStore()
                .getUnionListState(new ListStateDescriptor<>(
                        IN_FLIGHT, Types.TUPLE(TypeInformation.of(LookupRequest.class), Types.LONG)));
        restored = new ArrayList<>();
        lookup.restoredFrom(ctx.getRestoredCheckpointId().orElse(0));
        if (ctx.isRestored()) {
            var task = getRuntimeContext().getTaskInfo();
            int maxParallelism = task.getMaxNumberOfParallelSubtasks();
            var mine = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(
                    maxParallelism, task.getNumberOfParallelSubtasks(), task.getIndexOfThisSubtask());
            for (Tuple2<LookupRequest, Long> t : inFlight.get()) {
                if (mine.contains(KeyGroupRangeAssignment.assignToKeyGroup(t.f0.deviceId, maxParallelism))) {
                    restored.add(t);
                }
            }
        }
    }

    @Override
    public void open() throws Exception {
        if (mailbox == null)
            throw new IllegalStateException("DeviceSync needs the task's mailbox (a YieldingOperator)");
        pending = new LinkedHashSet<>();
        shedAtCapacity = getRuntimeContext().getMetricGroup().counter("lookupsShedAtCapacity");
        lookup.setRuntimeContext(getRuntimeContext());
        lookup.open(DefaultOpenContext.INSTANCE);
        super.open();
        // Sent again: their answers were not in the state this restored.
        for (Tuple2<LookupRequest, Long> t : restored) send(t.f0, t.f1);
        restored = null;
    }

    @Override
    public void snapshotState(StateSnapshotContext ctx) throws Exception {
        super.snapshotState(ctx);
        List<Tuple2<LookupRequest, Long>> now = new ArrayList<>(pending.size());
        for (Pending p : pending) now.add(Tuple2.of(p.request, p.timestamp));
        inFlight.update(now);
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        if (mark.getTimestamp() == Long.MAX_VALUE) endOfTime = true;
        super.processWatermark(mark);
    }

    /**
     * The end of both inputs (a bounded input, a drained stop), before Flink finishes the operator
     * (and stops its processing-time service, which the lookups' deadlines and retries need): the
     * timers left fire (see {@link SequenceGuardOperator#finish}), then every lookup they and earlier
     * records sent is answered (the task's mailbox runs their mails meanwhile; nothing of the
     * function is in the middle of a decision here), as Flink's Async I/O operator waits for its
     * queue at the end of its input. The end of event time goes downstream in {@link #finish}.
     */
    @Override
    public void endInput(int inputId) throws Exception {
        if (++inputsEnded < 2) return;
        if (endOfTime && getTimeServiceManager().isPresent()) {
            getTimeServiceManager().get().advanceWatermark(Watermark.MAX_WATERMARK);
        }
        while (!pending.isEmpty()) mailbox.yield();
    }

    /**
     * After the end of the inputs: the end of event time goes downstream after what the last timers
     * and answers emitted. When the timers' loop was already done, it went downstream before them.
     */
    @Override
    public void finish() throws Exception {
        if (endOfTime && getTimeServiceManager().isPresent()) output.emitWatermark(Watermark.MAX_WATERMARK);
        super.finish();
    }

    @Override
    public void close() throws Exception {
        try {
            if (pending != null) for (Pending p : pending) p.cancel();
            lookup.close();
        } finally {
            super.close();
        }
    }

    /** Lookups waiting for their answer (in flight or between attempts). */
    int pendingLookups() {
        return pending.size();
    }

    /** A lookup the function asked for (task thread). */
    private void send(LookupRequest r, long timestamp) {
        Pending p = new Pending(r, timestamp);
        if (pending.size() >= capacity) {
            shedAtCapacity.inc();
            LookupResult shed = lookup.shed(
                    r, "database lookup shed: " + capacity + " lookups already waiting (--snapshot.capacity)");
            // Waiting like any other (the capacity, the checkpoint, the end of the input), and
            // answered as a mail, like every answer: the function is in the middle of the decision.
            pending.add(p);
            mailbox.execute(() -> p.answer(List.of(shed)), "lookup shed");
            return;
        }
        pending.add(p);
        long now = getProcessingTimeService().getCurrentProcessingTime();
        p.deadline = getProcessingTimeService().registerTimer(now + timeoutMs, t -> p.timedOut());
        p.attempt();
    }

    /** One lookup of one device until its answer is given to the function. */
    private final class Pending {
        final LookupRequest request;
        final long timestamp;
        int attempts;
        boolean done;
        ScheduledFuture<?> deadline;
        ScheduledFuture<?> nextAttempt;

        Pending(LookupRequest request, long timestamp) {
            this.request = request;
            this.timestamp = timestamp;
        }

        void attempt() {
            int n = ++attempts;
            lookup.asyncInvoke(request, new Answer(this, n));
        }

        /** Attempt {@code n} answered (task thread). */
        void answered(int n, Collection<LookupResult> results) throws Exception {
            if (done || n != attempts) return;
            long delay = retry.retryAfter(n, results);
            if (delay < 0) {
                answer(results);
                return;
            }
            long now = getProcessingTimeService().getCurrentProcessingTime();
            nextAttempt = getProcessingTimeService().registerTimer(now + delay, t -> {
                if (!done) attempt();
            });
        }

        /** The whole lookup's deadline (task thread). */
        void timedOut() throws Exception {
            if (done) return;
            attempts++; // a late answer of the attempt in flight is not the answer any more
            lookup.timeout(request, new Answer(this, attempts));
        }

        /** The function gets the answer on its second input, under the device's key. */
        void answer(Collection<LookupResult> results) throws Exception {
            done = true;
            cancel();
            pending.remove(this);
            for (LookupResult r : results) {
                SyncFeedback f = SyncFeedback.of(r);
                StreamRecord<SyncFeedback> rec =
                        timestamp == Long.MIN_VALUE ? new StreamRecord<>(f) : new StreamRecord<>(f, timestamp);
                setKeyContextElement2(rec);
                processElement2(rec);
            }
        }

        void cancel() {
            if (deadline != null) deadline.cancel(false);
            if (nextAttempt != null) nextAttempt.cancel(false);
        }
    }

    /** The database's answer to one attempt, from any thread: handed to the task's mailbox. */
    private final class Answer implements ResultFuture<LookupResult> {
        private final Pending p;
        private final int attempt;

        Answer(Pending p, int attempt) {
            this.p = p;
            this.attempt = attempt;
        }

        @Override
        public void complete(Collection<LookupResult> results) {
            mailbox.execute(() -> p.answered(attempt, results), "lookup answer");
        }

        @Override
        public void completeExceptionally(Throwable error) {
            mailbox.execute(
                    () -> {
                        throw new IllegalStateException("lookup of device " + p.request.deviceId + " failed", error);
                    },
                    "lookup failure");
        }

        @Override
        public void complete(org.apache.flink.streaming.api.functions.async.CollectionSupplier<LookupResult> s) {
            mailbox.execute(() -> p.answered(attempt, s.get()), "lookup answer");
        }
    }

    /** The operator's output, but for the lookups, which are sent from here. */
    private final class LookupsStayHere implements Output<StreamRecord<DeviceState>> {
        private final Output<StreamRecord<DeviceState>> out;

        LookupsStayHere(Output<StreamRecord<DeviceState>> out) {
            this.out = out;
        }

        @Override
        public <X> void collect(OutputTag<X> tag, StreamRecord<X> record) {
            if (Tags.LOOKUPS.equals(tag)) {
                send((LookupRequest) record.getValue(), record.hasTimestamp() ? record.getTimestamp() : Long.MIN_VALUE);
            } else {
                out.collect(tag, record);
            }
        }

        @Override
        public void collect(StreamRecord<DeviceState> record) {
            out.collect(record);
        }

        @Override
        public void emitWatermark(Watermark mark) {
            out.emitWatermark(mark);
        }

        @Override
        public void emitWatermarkStatus(WatermarkStatus status) {
            out.emitWatermarkStatus(status);
        }

        @Override
        public void emitLatencyMarker(LatencyMarker marker) {
            out.emitLatencyMarker(marker);
        }

        @Override
        public void emitRecordAttributes(RecordAttributes attributes) {
            out.emitRecordAttributes(attributes);
        }

        @Override
        public void emitWatermark(WatermarkEvent event) {
            out.emitWatermark(event);
        }

        @Override
        public void close() {
            out.close();
        }
    }
}
