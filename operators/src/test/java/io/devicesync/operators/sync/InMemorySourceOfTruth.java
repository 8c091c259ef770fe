package io.devicesync.operators.sync;

import io.devicesync.model.Increment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * A source of truth held in memory, answering at once: the lookup's plan tested without a
 * database, and the whole job graph tested on bounded sources (the workflow tests). Thread-safe.
 */
public final class InMemorySourceOfTruth implements SourceOfTruth {
    private final Map<String, Snapshot> snapshots = new ConcurrentHashMap<>();
    /** Per device, the log by epoch, then seq. */
    private final Map<String, ConcurrentSkipListMap<Long, ConcurrentSkipListMap<Long, Increment>>> logs =
            new ConcurrentHashMap<>();

    /** Sets the device's snapshot row. */
    public InMemorySourceOfTruth snapshot(String deviceId, long epoch, long seq, byte[] state) {
        snapshots.put(deviceId, new Snapshot(epoch, seq, state));
        return this;
    }

    /** Adds a row to the increment log. */
    public InMemorySourceOfTruth log(Increment i) {
        logs.computeIfAbsent(i.deviceId, k -> new ConcurrentSkipListMap<>())
                .computeIfAbsent(i.epoch, k -> new ConcurrentSkipListMap<>())
                .put(i.seq, i);
        return this;
    }

    /** Removes a row from the log (its retention). */
    public InMemorySourceOfTruth forget(String deviceId, long epoch, long seq) {
        var byEpoch = logs.get(deviceId);
        if (byEpoch != null && byEpoch.get(epoch) != null) byEpoch.get(epoch).remove(seq);
        return this;
    }

    /** Rows in the order of their ids (a string order, as a database's collation would give one). */
    @Override
    public CompletionStage<List<SnapshotRow>> snapshotsAfter(String after, int limit) {
        List<SnapshotRow> rows = new ArrayList<>();
        new java.util.TreeMap<>(snapshots)
                .tailMap(after, false).entrySet().stream()
                        .limit(limit)
                        .forEach(e -> rows.add(new SnapshotRow(
                                e.getKey(),
                                e.getValue().epoch(),
                                e.getValue().seq(),
                                0L,
                                e.getValue().state())));
        return CompletableFuture.completedFuture(rows);
    }

    @Override
    public CompletionStage<Optional<Version>> version(String deviceId) {
        Snapshot s = snapshots.get(deviceId);
        return CompletableFuture.completedFuture(
                s == null ? Optional.empty() : Optional.of(new Version(s.epoch(), s.seq())));
    }

    @Override
    public CompletionStage<Optional<Snapshot>> snapshot(String deviceId) {
        return CompletableFuture.completedFuture(Optional.ofNullable(snapshots.get(deviceId)));
    }

    @Override
    public CompletionStage<List<Increment>> log(String deviceId, long epoch, long fromSeq, long toSeq) {
        List<Increment> rows = new ArrayList<>();
        var byEpoch = logs.get(deviceId);
        var bySeq = byEpoch == null ? null : byEpoch.get(epoch);
        if (bySeq != null && fromSeq <= toSeq)
            rows.addAll(bySeq.subMap(fromSeq, true, toSeq, true).values());
        return CompletableFuture.completedFuture(rows);
    }
}
