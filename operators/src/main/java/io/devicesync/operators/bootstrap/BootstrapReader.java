package io.devicesync.operators.bootstrap;

import io.devicesync.model.Increment;
import io.devicesync.operators.sync.SourceOfTruth;
import io.devicesync.operators.sync.SourceOfTruth.SnapshotRow;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.core.io.InputStatus;
import org.apache.flink.metrics.Counter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads {@code device_snapshot} chunk by chunk and emits a seed per row. Nothing waits: the chunk
 * query goes to the non-blocking client and its answer is picked up by {@link #pollNext} on the
 * task thread once it has arrived ({@link #isAvailable}); the next chunk is asked for as soon as
 * one arrives, so that the database reads while the job takes the rows. A failed query is tried
 * again, backing off to 30 s, and logged; the bootstrap never fails the job on the database.
 * The split in each checkpoint names the last row emitted: a restore resumes after it.
 */
final class BootstrapReader implements SourceReader<Increment, BootstrapSplit> {
    private static final Logger LOG = LoggerFactory.getLogger(BootstrapReader.class);
    static final long LOG_EVERY_NANOS = 5_000_000_000L;

    private final SourceReaderContext context;
    private final SourceOfTruth.Factory factory;
    private final int chunkSize;
    private final BootstrapPace pace;
    private final Counter rowsCounter;
    private final Counter chunksCounter;
    private final Counter rejectedCounter;
    private final Counter failuresCounter;

    private SourceOfTruth db;
    /** The split being read; null before it is assigned and once it is read to its end. */
    private BootstrapSplit split;

    private boolean noMoreSplits;
    /** Rows of the chunks arrived and not emitted yet. */
    private final ArrayDeque<SnapshotRow> buffer = new ArrayDeque<>();
    /** The chunk that arrived last was short: the table is read once the buffer is empty. */
    private boolean lastChunkArrived;
    /** The next chunk's query (perhaps waiting for its time first); null when none is asked for. */
    private CompletableFuture<List<SnapshotRow>> next;
    /** The id after which {@link #next} reads. */
    private String nextAfter;

    private CompletableFuture<Void> splitArrives = new CompletableFuture<>();
    private long startNanos;
    private long rowsAtStart;

    BootstrapReader(SourceReaderContext context, SourceOfTruth.Factory factory, int chunkSize, long rowsPerSecond) {
        this.context = context;
        this.factory = factory;
        this.chunkSize = chunkSize;
        this.pace = new BootstrapPace(rowsPerSecond, LOG_EVERY_NANOS);
        var metrics = context.metricGroup();
        this.rowsCounter = metrics.counter("bootstrapRowsRead");
        this.chunksCounter = metrics.counter("bootstrapChunksRead");
        this.rejectedCounter = metrics.counter("bootstrapRowsRejected");
        this.failuresCounter = metrics.counter("bootstrapQueryFailures");
    }

    @Override
    public void start() {
        db = factory.open();
        context.sendSplitRequest();
    }

    @Override
    public InputStatus pollNext(ReaderOutput<Increment> output) {
        if (split == null) return noMoreSplits ? InputStatus.END_OF_INPUT : InputStatus.NOTHING_AVAILABLE;
        if (buffer.isEmpty()) takeChunk();
        SnapshotRow row = buffer.poll();
        if (row != null) {
            split.after = row.deviceId();
            split.rows++;
            if (row.state() == null) {
                rejectedCounter.inc();
                LOG.warn(
                        "bootstrap: the state of {} in device_snapshot does not decode as JSON: not seeded (it is looked up "
                                + "when it speaks)",
                        row.deviceId());
            } else {
                output.collect(Increment.seed(row.deviceId(), row.epoch(), row.seq(), row.updatedAtMs(), row.state()));
                rowsCounter.inc();
            }
            if (pace.logDue(System.nanoTime())) logProgress("reading");
            return InputStatus.MORE_AVAILABLE;
        }
        if (lastChunkArrived) {
            logProgress("done");
            split = null;
            return noMoreSplits ? InputStatus.END_OF_INPUT : InputStatus.NOTHING_AVAILABLE;
        }
        return InputStatus.NOTHING_AVAILABLE;
    }

    /** Moves an arrived chunk into the buffer and asks for the one after it; retries a failed query. */
    private void takeChunk() {
        if (next == null) {
            if (!lastChunkArrived) ask(split.after, 0);
            return;
        }
        if (!next.isDone()) return;
        List<SnapshotRow> rows;
        try {
            rows = next.join();
        } catch (RuntimeException e) {
            failuresCounter.inc();
            long wait = pace.afterFailure();
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            LOG.warn(
                    "bootstrap: reading device_snapshot after '{}' failed ({} in a row), trying again in {} s: {}",
                    nextAfter,
                    pace.failures(),
                    TimeUnit.NANOSECONDS.toSeconds(wait),
                    cause.toString());
            ask(nextAfter, wait);
            return;
        }
        next = null;
        buffer.addAll(rows);
        split.chunks++;
        chunksCounter.inc();
        long wait = pace.afterChunk(rows.size(), System.nanoTime());
        if (rows.size() < chunkSize) {
            lastChunkArrived = true;
        } else {
            ask(rows.get(rows.size() - 1).deviceId(), wait);
        }
    }

    private void ask(String after, long waitNanos) {
        nextAfter = after;
        if (waitNanos <= 0) {
            next = db.snapshotsAfter(after, chunkSize).toCompletableFuture();
        } else {
            SourceOfTruth d = db;
            next = CompletableFuture.runAsync(
                            () -> {}, CompletableFuture.delayedExecutor(waitNanos, TimeUnit.NANOSECONDS))
                    .thenCompose(v -> d.snapshotsAfter(after, chunkSize));
        }
    }

    private void logProgress(String what) {
        long rows = split.rows;
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        LOG.info(
                "bootstrap {}: {} rows of device_snapshot in {} chunks ({} rows in {} s here, {} rows/s), last '{}'{}",
                what,
                rows,
                split.chunks,
                rows - rowsAtStart,
                Math.round(seconds),
                seconds > 0 ? Math.round((rows - rowsAtStart) / seconds) : 0,
                split.after,
                rejectedCounter.getCount() > 0 ? ", " + rejectedCounter.getCount() + " rows not decodable" : "");
    }

    @Override
    public CompletableFuture<Void> isAvailable() {
        if (split == null) {
            if (noMoreSplits) return CompletableFuture.completedFuture(null);
            if (splitArrives.isDone()) splitArrives = new CompletableFuture<>();
            return splitArrives;
        }
        if (buffer.isEmpty() && next != null && !next.isDone()) return next.handle((r, e) -> null);
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public List<BootstrapSplit> snapshotState(long checkpointId) {
        return split == null ? List.of() : List.of(split.copy());
    }

    @Override
    public void addSplits(List<BootstrapSplit> splits) {
        if (splits.isEmpty()) return;
        if (split != null || splits.size() > 1)
            throw new IllegalStateException("the bootstrap has one split: " + splits);
        split = splits.get(0).copy();
        startNanos = System.nanoTime();
        rowsAtStart = split.rows;
        LOG.info(
                split.rows == 0
                        ? "bootstrap: seeding every device from device_snapshot, {} rows a chunk"
                        : "bootstrap: resuming after '{}' ({} rows in {} chunks read before), {} rows a chunk",
                split.rows == 0
                        ? new Object[] {chunkSize}
                        : new Object[] {split.after, split.rows, split.chunks, chunkSize});
        splitArrives.complete(null);
    }

    @Override
    public void notifyNoMoreSplits() {
        noMoreSplits = true;
        splitArrives.complete(null);
    }

    @Override
    public void close() throws Exception {
        if (next != null) next.cancel(false);
        if (db != null) db.close();
    }
}
