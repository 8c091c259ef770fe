package io.devicesync.operators.sync;

import io.devicesync.model.Increment;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;

/**
 * The source-of-truth database as the lookups see it: three reads, each asynchronous (the task
 * thread never waits). {@link PostgresSourceOfTruth} reads PostgreSQL; tests read maps.
 */
public interface SourceOfTruth extends AutoCloseable {
    /** Opens a source of truth where the job runs (it is shipped to the task managers). */
    interface Factory extends java.io.Serializable {
        SourceOfTruth open();
    }

    /** A device's version in {@code device_snapshot}. */
    record Version(long epoch, long seq) {}

    /** A device's row in {@code device_snapshot}: its version and state (compact JSON bytes). */
    record Snapshot(long epoch, long seq, byte[] state) {}

    /**
     * A row of {@code device_snapshot} as the bootstrap reads it: the state as compact JSON bytes,
     * or null when the row could not be decoded (the bootstrap counts it and goes on).
     */
    record SnapshotRow(String deviceId, long epoch, long seq, long updatedAtMs, byte[] state) {}

    /**
     * A chunk of the bootstrap: at most {@code limit} rows of {@code device_snapshot} whose
     * device_id comes after {@code after} in the database's order of device_id (keyset pagination:
     * each chunk is an index range scan however far the bootstrap is), in that order. {@code after}
     * "" starts at the first row. Fewer than {@code limit} rows: the table is read to its end.
     */
    default CompletionStage<List<SnapshotRow>> snapshotsAfter(String after, int limit) {
        return java.util.concurrent.CompletableFuture.failedFuture(
                new UnsupportedOperationException(getClass().getSimpleName() + " cannot be read in chunks"));
    }

    /** The version of the device's snapshot row; empty if it has none. */
    CompletionStage<Optional<Version>> version(String deviceId);

    /** The device's snapshot row; empty if it has none. */
    CompletionStage<Optional<Snapshot>> snapshot(String deviceId);

    /** The rows of {@code device_increment} for (epoch, fromSeq..toSeq) that the log still has, in seq order. */
    CompletionStage<List<Increment>> log(String deviceId, long epoch, long fromSeq, long toSeq);

    /**
     * Queries sent to the database so far (one query may answer many devices' reads); safe to call
     * from any thread. A source that is not a database counts none.
     */
    default long queriesIssued() {
        return 0;
    }

    @Override
    default void close() throws Exception {}
}
