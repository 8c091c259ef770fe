package io.devicesync.model;

/**
 * What a lookup subtask's circuit breaker is, riding on a lookup result to the AlertPolicy (through
 * the reconciler): the policy knows from these whether a breaker is open anywhere in the job.
 * {@code incarnation} is drawn when the subtask opens (a restart starts a new one, whose breaker
 * is closed); {@code generation} counts its breaker's transitions, so a report overtaken by a later
 * one on its way is recognized as older.
 */
public class BreakerReport {
    public int subtask;
    public int parallelism;
    public long incarnation;
    public long generation;
    public boolean open;
    /**
     * The checkpoint the reporting incarnation started from (0: none, a fresh start; -1: not known,
     * a report of an earlier build). Orders incarnations: records restored with a checkpoint's
     * records in flight come from incarnations that started from earlier ones.
     */
    public long restoredFrom = -1;

    public BreakerReport() {}

    /** A report whose incarnation's start is not known (an earlier build's). */
    public BreakerReport(int subtask, int parallelism, long incarnation, long generation, boolean open) {
        this(subtask, parallelism, incarnation, generation, open, -1);
    }

    public BreakerReport(
            int subtask, int parallelism, long incarnation, long generation, boolean open, long restoredFrom) {
        this.subtask = subtask;
        this.parallelism = parallelism;
        this.incarnation = incarnation;
        this.generation = generation;
        this.open = open;
        this.restoredFrom = restoredFrom;
    }

    @Override
    public String toString() {
        return "BreakerReport{subtask " + subtask + "/" + parallelism + " incarnation " + incarnation + " generation "
                + generation + " restored from " + restoredFrom + (open ? " open" : " closed") + "}";
    }
}
