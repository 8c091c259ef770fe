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

    public BreakerReport() {}

    public BreakerReport(int subtask, int parallelism, long incarnation, long generation, boolean open) {
        this.subtask = subtask;
        this.parallelism = parallelism;
        this.incarnation = incarnation;
        this.generation = generation;
        this.open = open;
    }

    @Override
    public String toString() {
        return "BreakerReport{subtask " + subtask + "/" + parallelism + " incarnation " + incarnation + " generation "
                + generation + (open ? " open" : " closed") + "}";
    }
}
