package io.devicesync.jobs;

import java.time.Duration;
import org.apache.flink.connector.base.DeliveryGuarantee;

/**
 * Whether the exactly-once sinks' Kafka transactions outlive what they must: a transaction opened
 * after one checkpoint is committed when the next one completes, about one interval later plus
 * that checkpoint's duration. A checkpoint that fails or runs long keeps it open until the
 * following one; after a failure the restored job commits it again, after its restart delay and
 * restore. If the broker's {@code transaction.timeout.ms} passes first, it aborts the transaction:
 * the commit fails, the job restarts, and does so again at the next long interval.
 *
 * <p>The rule: the timeout is at least twice the checkpoint interval plus {@link #RECOVERY} (one
 * interval for the transaction itself, one for a checkpoint that failed or took up to an interval,
 * one minute for a restart and restore: flink-conf/config.yaml's exponential restart delay tops out
 * at a minute). With the defaults (30 s, 10 min) that is 2 min of 10; a 10 min interval needs 21 min.
 * A heuristic floor, not a proof: a cluster whose restarts take longer needs a longer timeout.
 * At-least-once sinks have no transactions and are not checked.
 */
final class TransactionTimeout {
    private TransactionTimeout() {}

    /** Room for a restart and a restore. */
    static final Duration RECOVERY = Duration.ofMinutes(1);

    /** The shortest transaction timeout for this checkpoint interval. */
    static Duration required(Duration checkpointInterval) {
        return checkpointInterval.multipliedBy(2).plus(RECOVERY);
    }

    /**
     * Refuses, naming {@code --kafka.transaction.timeout.ms}, a timeout shorter than
     * {@link #required}.
     *
     * @param timeoutGiven whether the user set it (else it is the job's default)
     * @param intervalFrom where the interval comes from, for the message
     */
    static void check(
            DeliveryGuarantee guarantee,
            long timeoutMs,
            boolean timeoutGiven,
            Duration checkpointInterval,
            String intervalFrom) {
        if (guarantee != DeliveryGuarantee.EXACTLY_ONCE) return;
        Duration required = required(checkpointInterval);
        if (Duration.ofMillis(timeoutMs).compareTo(required) >= 0) return;
        throw new IllegalArgumentException(
                "--kafka.transaction.timeout.ms: " + timeoutMs + " ms"
                        + (timeoutGiven ? "" : " (the job's default)") + " is too short for checkpoints every "
                        + checkpointInterval.toMillis() + " ms (" + intervalFrom + "): exactly-once sinks need at least"
                        + " 2 × the interval + " + RECOVERY.toSeconds() + " s = " + required.toMillis()
                        + " ms, or the broker"
                        + " aborts transactions that a slow checkpoint or a recovery keeps open and the job restarts;"
                        + " raise it (within the brokers' transaction.max.timeout.ms, 15 min by default) or checkpoint more often");
    }
}
