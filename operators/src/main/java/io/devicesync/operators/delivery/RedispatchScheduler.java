package io.devicesync.operators.delivery;

import io.devicesync.model.Alert;
import io.devicesync.model.Redispatch;
import io.devicesync.operators.util.KeyGroupCounts;
import io.devicesync.operators.util.Tags;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.state.KeyGroupedInternalPriorityQueue;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keyed by deviceId, chained to the DeliveryTracker (same key and parallelism): sends the attempts
 * the tracker found due within each consumer's budget, the waiting ones longest waiting first; a
 * newer attempt replaces a queued one; dead-letters exhausted episodes (with one
 * REDISPATCH_EXHAUSTED alert) in the same order, within a budget of the same rate of their own;
 * counts each consumer's backlog (devices with an open episode or
 * parked) by key group and reports the counts that changed, once a second, to the DeliveryBacklog,
 * which sums them over the job and raises BACKLOG / BACKLOG_CLEARED. The decisions are
 * {@link SchedulerRules}'; its work follows the problems (attempts, episode changes), never the
 * event rate, and spreads over every subtask with the devices: no consumer is a hot key.
 *
 * <p>An operator, not a process function, for two things a function cannot reach: the queue is one
 * of Flink's key-grouped priority queues per consumer (what its timers are made of, {@link
 * QueuedAttempt}), which lives in the keyed state backend (on RocksDB, on disk: the heap does not
 * grow with the queue) and is snapshotted and rescaled with the devices' state; and sending from
 * it means setting the current key to the device at its head.
 *
 * <p>The budget is in processing time: it protects the consumer's real throughput, also while a
 * backlog of input is replayed. It is split evenly over the subtasks ({@link #share}), the job-wide
 * sum being {@code --redispatch.rate}; longest-waiting-first holds within a subtask. A restored
 * subtask sends nothing in its first second: the budget holds across a restart without keeping
 * its window.
 *
 * <p>Metrics, per consumer (group {@code consumer}), of this subtask: {@code redispatchesSent},
 * {@code redispatchesDeferred} (attempts that waited for the budget), {@code redispatchesExhausted}
 * (dead letters sent),
 * gauges {@code redispatchesQueued}, {@code deadLettersQueued} and {@code oldestUnacknowledgedAgeMs}.
 */
public final class RedispatchScheduler extends AbstractStreamOperator<Redispatch>
        implements OneInputStreamOperator<DeliveryEvent, Redispatch> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(RedispatchScheduler.class);

    /** Per device: its episode (or parking) for each consumer that has one. */
    public static final String EPISODES = "episodes";

    /** Per device: the dead letter of an exhausted episode waiting for its turn, per consumer. */
    public static final String DEAD_LETTERS = "dead-letters";

    static final String QUEUE = "redispatch-queue-";
    static final String WAITING = "redispatch-waiting-";
    static final String DEAD_LETTER_QUEUE = "redispatch-dead-letters-";
    /** How often the changed backlog counts go to the DeliveryBacklog. */
    static final long REPORT_MS = 1000;

    /** The backlog counts that changed, for the DeliveryBacklog. */
    public static final OutputTag<BacklogReport> BACKLOG_REPORTS =
            new OutputTag<>("backlog-reports", TypeInformation.of(BacklogReport.class));

    private final List<String> consumers;
    /** Each consumer's job-wide budget per second ({@code --delivery.consumer.<name>.rate}). */
    private final LinkedHashMap<String, Integer> rates = new LinkedHashMap<>();

    private transient MapState<String, Episode> episodes;
    private transient MapState<String, PendingDeadLetter> deadLetters;
    private transient Map<String, Consumer> byName;
    private transient SchedulerRules rules;
    private transient Effects effects;
    private transient boolean restored;

    /** Every consumer with the same budget. */
    public RedispatchScheduler(List<String> consumers, int rate) {
        this(consumers, same(consumers, rate));
    }

    /** @param rates each consumer's job-wide budget per second, by name */
    public RedispatchScheduler(List<String> consumers, Map<String, Integer> rates) {
        this.consumers = List.copyOf(consumers);
        for (String c : consumers) {
            Integer r = rates.get(c);
            if (r == null || r < 1) throw new IllegalArgumentException("no budget for " + c);
            this.rates.put(c, r);
        }
    }

    private static Map<String, Integer> same(List<String> consumers, int rate) {
        Map<String, Integer> m = new LinkedHashMap<>();
        for (String c : consumers) m.put(c, rate);
        return m;
    }

    /**
     * Subtask {@code index}'s part of a job-wide budget of {@code rate} per second over
     * {@code parallelism} subtasks: an even split, the remainder to the first subtasks, so that the
     * parts sum to {@code rate}; at least 1 (the job refuses a rate below its parallelism).
     */
    static int share(int rate, int parallelism, int index) {
        int s = rate / parallelism + (index < rate % parallelism ? 1 : 0);
        return Math.max(1, s);
    }

    /** One consumer's queue, window, counts and metrics on this subtask. */
    private static final class Consumer {
        final String name;
        final int share;
        KeyGroupedInternalPriorityQueue<QueuedAttempt> queue;
        /** Every entry (episodes and parkings) by the time it waits since: the age gauge. */
        KeyGroupedInternalPriorityQueue<QueuedAttempt> waiting;

        final SendWindow window = new SendWindow();
        /** Dead letters waiting for their turn, in the same order, with a budget of their own. */
        KeyGroupedInternalPriorityQueue<QueuedAttempt> deadLetterQueue;

        final SendWindow deadLetterWindow = new SendWindow();
        final KeyGroupCounts deadLettersQueued;
        final KeyGroupCounts backlog;
        final KeyGroupCounts queued;
        /** Nothing is sent before this (processing time): a restored subtask's first second. */
        long holdUntil;
        /** The drain callback registered; 0 when none. */
        long drainAt;
        /** This listing of the consumer: entries of another one are left over (see initializeState). */
        long generation;
        /** Listed at this start and not before it: left-overs of an earlier listing may be in the state. */
        boolean newlyListed;

        Counter sent;
        Counter deferred;
        Counter exhausted;
        volatile long oldestWaitingSince = Long.MAX_VALUE;

        Consumer(String name, int share) {
            this.name = name;
            this.share = share;
            this.backlog = new KeyGroupCounts("backlog-" + name);
            this.queued = new KeyGroupCounts("queued-" + name);
            this.deadLettersQueued = new KeyGroupCounts("dead-letters-queued-" + name);
        }
    }

    /**
     * Each listed consumer's generation, and under "" the highest ever given (union operator
     * state). A consumer dropped from the list and listed again later gets a new one: what its
     * earlier listing left in the state (entries of devices never told again, queue elements,
     * counts) is taken for nothing, as DESIGN.md has it (listed again, it starts afresh).
     */
    private static final ListStateDescriptor<Tuple2<String, Long>> GENERATIONS =
            new ListStateDescriptor<>("consumer-generations", Types.TUPLE(Types.STRING, Types.LONG));

    private transient ListState<Tuple2<String, Long>> generations;
    private transient long highestGeneration;

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        TaskInfo task = getRuntimeContext().getTaskInfo();
        generations = context.getOperatorStateStore().getUnionListState(GENERATIONS);
        Map<String, Long> restoredGenerations = new java.util.HashMap<>();
        for (Tuple2<String, Long> g : generations.get()) restoredGenerations.merge(g.f0, g.f1, Math::max);
        highestGeneration = restoredGenerations.getOrDefault("", 0L);
        byName = new LinkedHashMap<>();
        for (String c : consumers) {
            int rate = rates.get(c);
            if (rate < task.getNumberOfParallelSubtasks() && task.getIndexOfThisSubtask() == 0) {
                LOG.warn(
                        "The redispatch budget of {} ({} a second) is below the parallelism {}: each subtask"
                                + " sends up to 1 a second, {} a second in all",
                        c,
                        rate,
                        task.getNumberOfParallelSubtasks(),
                        task.getNumberOfParallelSubtasks());
            }
            Consumer pc =
                    new Consumer(c, share(rate, task.getNumberOfParallelSubtasks(), task.getIndexOfThisSubtask()));
            pc.backlog.initialize(context, task);
            pc.queued.initialize(context, task);
            pc.deadLettersQueued.initialize(context, task);
            Long g = restoredGenerations.get(c);
            if (g == null) {
                pc.generation = ++highestGeneration;
                pc.newlyListed = context.isRestored();
                if (pc.newlyListed) {
                    pc.backlog.reset();
                    pc.queued.reset();
                    pc.deadLettersQueued.reset();
                }
            } else {
                pc.generation = g;
            }
            byName.put(c, pc);
        }
        restored = context.isRestored();
    }

    /**
     * The descriptor of {@link #EPISODES}, as the scheduler registers it. No TTL: an entry is counted
     * in the backlog and has its place in the queues, and goes only with the tracker's word (an ack's
     * CLOSED, a parked device forgotten): an entry that expired silently would stay counted and
     * queued for good.
     */
    public static MapStateDescriptor<String, Episode> episodesDescriptor() {
        return new MapStateDescriptor<>(EPISODES, Types.STRING, TypeInformation.of(Episode.class));
    }

    @Override
    public void open() throws Exception {
        super.open();
        if (getKeyedStateBackend() instanceof org.apache.flink.runtime.state.AbstractKeyedStateBackend<?> b
                && b.requiresLegacySynchronousTimerSnapshots(
                        org.apache.flink.runtime.checkpoint.CheckpointType.CHECKPOINT)) {
            // RocksDB with heap timers: Flink writes its own timers into a checkpoint by hand, but no
            // other priority queue; the redispatch queues would be in savepoints only.
            throw new IllegalStateException("state.backend.rocksdb.timer-service.factory: HEAP keeps the redispatch"
                    + " queues out of RocksDB's checkpoints; with --delivery.consumers use ROCKSDB (the default)");
        }
        episodes = getRuntimeContext().getMapState(episodesDescriptor());
        deadLetters = getRuntimeContext()
                .getMapState(new MapStateDescriptor<>(
                        DEAD_LETTERS, Types.STRING, TypeInformation.of(PendingDeadLetter.class)));
        rules = new SchedulerRules();
        effects = new Effects();
        MetricGroup group = getMetricGroup();
        long now = getProcessingTimeService().getCurrentProcessingTime();
        for (Consumer pc : byName.values()) {
            pc.queue = getKeyedStateBackend().create(QUEUE + pc.name, QueuedAttempt.Serializer.INSTANCE);
            pc.waiting = getKeyedStateBackend().create(WAITING + pc.name, QueuedAttempt.Serializer.INSTANCE);
            pc.deadLetterQueue =
                    getKeyedStateBackend().create(DEAD_LETTER_QUEUE + pc.name, QueuedAttempt.Serializer.INSTANCE);
            MetricGroup g = group.addGroup("consumer", pc.name);
            pc.sent = g.counter("redispatchesSent");
            pc.deferred = g.counter("redispatchesDeferred");
            pc.exhausted = g.counter("redispatchesExhausted");
            Consumer m = pc;
            g.gauge("redispatchesQueued", m.queued::total);
            g.gauge("deadLettersQueued", m.deadLettersQueued::total);
            g.gauge("oldestUnacknowledgedAgeMs", () -> {
                long oldest = m.oldestWaitingSince;
                return oldest == Long.MAX_VALUE ? 0L : Math.max(0L, System.currentTimeMillis() - oldest);
            });
            if (pc.newlyListed) purge(pc);
            refresh(pc);
            if (restored) {
                pc.holdUntil = now + 1000;
                if (!pc.queue.isEmpty() || !pc.deadLetterQueue.isEmpty()) schedule(pc, pc.holdUntil);
            }
        }
        getProcessingTimeService().registerTimer(now + REPORT_MS, this::report);
    }

    /** Empties a newly listed consumer's queues of what an earlier listing left in them. */
    private void purge(Consumer pc) {
        long n = 0;
        while (pc.queue.poll() != null) n++;
        while (pc.waiting.poll() != null) n++;
        while (pc.deadLetterQueue.poll() != null) n++;
        if (n > 0) LOG.info("{}: listed again; {} queue elements of its earlier listing dropped", pc.name, n);
    }

    @Override
    public void processElement(StreamRecord<DeliveryEvent> record) throws Exception {
        DeliveryEvent e = record.getValue();
        Consumer pc = byName.get(e.consumer);
        if (pc == null) return; // not listed (the tracker keeps only listed consumers)
        Episode before = episodes.get(e.consumer);
        if (before != null && before.generation != pc.generation) before = null; // left over: none
        if (e.kind == DeliveryEvent.Kind.CLOSED && before == null) return; // nothing to close
        // The entry's place in the queues as it was (the rules change the entry in place).
        QueuedAttempt wasQueued = before != null && before.queued ? place(before, e.deviceId) : null;
        QueuedAttempt wasWaiting = before != null ? waitingPlace(before, e.deviceId) : null;
        long now = getProcessingTimeService().getCurrentProcessingTime();
        SchedulerRules.Outcome o = rules.onEvent(e.consumer, before, e, now, effects);
        QueuedAttempt nowQueued = null;
        QueuedAttempt nowWaiting = null;
        switch (o.store) {
            case PUT:
                o.entry.generation = pc.generation;
                episodes.put(e.consumer, o.entry);
                if (o.entry.queued) nowQueued = place(o.entry, e.deviceId);
                nowWaiting = waitingPlace(o.entry, e.deviceId);
                break;
            case REMOVE:
                episodes.remove(e.consumer);
                break;
            default:
                return;
        }
        if (wasQueued != null && !wasQueued.equals(nowQueued)) pc.queue.remove(wasQueued);
        if (nowQueued != null && !nowQueued.equals(wasQueued)) pc.queue.add(nowQueued);
        pc.queued.add(e.deviceId, (nowQueued != null ? 1 : 0) - (wasQueued != null ? 1 : 0));
        if (wasWaiting != null && !wasWaiting.equals(nowWaiting)) pc.waiting.remove(wasWaiting);
        if (nowWaiting != null && !nowWaiting.equals(wasWaiting)) pc.waiting.add(nowWaiting);
        if (o.backlogDelta != 0) pc.backlog.add(e.deviceId, o.backlogDelta);
        if (o.deadLetter != null) queueDeadLetter(pc, e.deviceId, o.deadLetter, now);
        if (nowQueued != null || o.deadLetter != null) {
            boolean sentNow = drain(pc, now, e.deviceId);
            if (e.kind == DeliveryEvent.Kind.ATTEMPT && !sentNow) pc.deferred.inc();
        }
        refresh(pc);
    }

    private static QueuedAttempt place(Episode en, String deviceId) {
        return new QueuedAttempt(en.waitingSince, en.bytes, deviceId);
    }

    private static QueuedAttempt waitingPlace(Episode en, String deviceId) {
        return new QueuedAttempt(en.waitingSince, 0, deviceId);
    }

    /**
     * Sends the queue's heads while the budget allows, and registers a callback for the rest.
     * Returns whether {@code watched} (the device being processed; null for none) was sent. Leaves
     * the current key as it found it.
     */
    private boolean drain(Consumer pc, long now, String watched) throws Exception {
        if (now < pc.holdUntil) {
            schedule(pc, pc.holdUntil);
            return false;
        }
        boolean watchedSent = false;
        Object key = getCurrentKey();
        try {
            while (!pc.queue.isEmpty() && pc.window.canSend(now, pc.share)) {
                QueuedAttempt head = pc.queue.poll();
                pc.queued.add(head.deviceId, -1);
                setCurrentKey(head.deviceId);
                Episode en = episodes.get(pc.name);
                if (en == null || !en.queued || en.generation != pc.generation) continue; // gone meanwhile
                output.collect(new StreamRecord<>(new Redispatch(en.state, pc.name, en.attempt)));
                pc.window.record(now);
                en.sent++;
                en.queued = false;
                episodes.put(pc.name, en);
                pc.sent.inc();
                if (head.deviceId.equals(watched)) watchedSent = true;
            }
            while (!pc.deadLetterQueue.isEmpty() && pc.deadLetterWindow.canSend(now, pc.share)) {
                QueuedAttempt head = pc.deadLetterQueue.poll();
                pc.deadLettersQueued.add(head.deviceId, -1);
                setCurrentKey(head.deviceId);
                PendingDeadLetter dl = deadLetters.get(pc.name);
                if (dl == null || dl.generation != pc.generation) continue;
                sendDeadLetter(pc, head.deviceId, dl, now);
                pc.deadLetterWindow.record(now);
            }
        } finally {
            if (key != null) setCurrentKey(key);
        }
        long next = Long.MAX_VALUE;
        if (!pc.queue.isEmpty()) next = pc.window.nextAllowed(now, pc.share);
        if (!pc.deadLetterQueue.isEmpty()) next = Math.min(next, pc.deadLetterWindow.nextAllowed(now, pc.share));
        if (next != Long.MAX_VALUE) schedule(pc, next);
        return watchedSent;
    }

    /**
     * An exhausted episode's dead letter, queued for its turn. One waits per device and consumer: an
     * earlier one still waiting (a second episode exhausted before the first one's turn, rare) goes
     * at once.
     */
    private void queueDeadLetter(Consumer pc, String deviceId, PendingDeadLetter dl, long now) throws Exception {
        PendingDeadLetter earlier = deadLetters.get(pc.name);
        if (earlier != null && earlier.generation == pc.generation) {
            pc.deadLetterQueue.remove(new QueuedAttempt(earlier.waitingSince, earlier.bytes, deviceId));
            pc.deadLettersQueued.add(deviceId, -1);
            sendDeadLetter(pc, deviceId, earlier, now);
            pc.deadLetterWindow.record(now); // counted: the budget may wait a little longer for the next
        }
        dl.generation = pc.generation;
        deadLetters.put(pc.name, dl);
        pc.deadLetterQueue.add(new QueuedAttempt(dl.waitingSince, dl.bytes, deviceId));
        pc.deadLettersQueued.add(deviceId, 1);
    }

    /** The dead letter and its alert go out (the current key is the device's). */
    private void sendDeadLetter(Consumer pc, String deviceId, PendingDeadLetter dl, long now) throws Exception {
        rules.deadLetter(pc.name, deviceId, dl, now, effects);
        deadLetters.remove(pc.name);
        pc.exhausted.inc();
    }

    /** A drain callback at {@code at}, unless one comes as early. */
    private void schedule(Consumer pc, long at) {
        if (pc.drainAt != 0 && pc.drainAt <= at) return;
        pc.drainAt = at;
        getProcessingTimeService().registerTimer(at, t -> onDrain(pc, t));
    }

    private void onDrain(Consumer pc, long at) throws Exception {
        if (pc.drainAt == at) pc.drainAt = 0;
        long now = Math.max(at, getProcessingTimeService().getCurrentProcessingTime());
        drain(pc, now, null);
        refresh(pc);
    }

    /** Every second: the backlog counts that changed go to the DeliveryBacklog. */
    private void report(long at) throws Exception {
        for (Consumer pc : byName.values()) {
            pc.backlog.reportChanges((group, count) ->
                    output.collect(BACKLOG_REPORTS, new StreamRecord<>(new BacklogReport(pc.name, group, count))));
        }
        getProcessingTimeService().registerTimer(at + REPORT_MS, this::report);
    }

    private static void refresh(Consumer pc) {
        QueuedAttempt oldest = pc.waiting.peek();
        pc.oldestWaitingSince = oldest == null ? Long.MAX_VALUE : oldest.waitingSince;
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        for (Consumer pc : byName.values()) {
            pc.backlog.snapshot();
            pc.queued.snapshot();
            pc.deadLettersQueued.snapshot();
        }
        List<Tuple2<String, Long>> g = new java.util.ArrayList<>();
        if (getRuntimeContext().getTaskInfo().getIndexOfThisSubtask() == 0) { // the same on every subtask
            for (Consumer pc : byName.values()) g.add(Tuple2.of(pc.name, pc.generation));
            g.add(Tuple2.of("", highestGeneration));
        }
        generations.update(g);
    }

    /** This subtask's counts of a consumer: backlog, queued, oldest waiting since (tests). */
    long[] gauges(String consumer) {
        Consumer pc = byName.get(consumer);
        return new long[] {pc.backlog.total(), pc.queued.total() + pc.deadLettersQueued.total(), pc.oldestWaitingSince};
    }

    /** The consumer's redispatchesDeferred so far (tests). */
    long deferred(String consumer) {
        return byName.get(consumer).deferred.getCount();
    }

    /** The rules' effects as side outputs (the metrics are counted by the operator). */
    private final class Effects implements SchedulerRules.Effects {
        @Override
        public void deadLetter(Redispatch last) {
            output.collect(Tags.REDISPATCH_DEAD_LETTERS, new StreamRecord<>(last));
        }

        @Override
        public void alert(Alert alert) {
            output.collect(Tags.ALERTS, new StreamRecord<>(alert));
        }
    }
}
