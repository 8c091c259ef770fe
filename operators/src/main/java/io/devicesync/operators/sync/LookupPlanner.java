package io.devicesync.operators.sync;

import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.model.Versions;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Which reads answer a lookup request, and what the answer is (no Flink, no database client: the
 * reads go through a {@link SourceOfTruth}, so the plan is unit-tested against maps).
 *
 * <ul>
 *   <li>a gap of at most {@code maxLogFetch} versions whose rows are all in the log: the log
 *       ({@code LOG});
 *   <li>anything else (a longer gap, rows gone, a first-seen device, a reset, a repair audit): the
 *       snapshot ({@code SNAPSHOT}), followed by the log rows that continue a lagging snapshot up to
 *       the request's range where the log has them;
 *   <li>an audit: the database's version only ({@code VERSION}), unless the database is ahead of a
 *       quiet device (tail loss: the log rows when it has them all and they are older than the
 *       audit; the snapshot when the tail is longer than the log fetch and its first row is older
 *       than the audit; the snapshot on a re-check when the log no longer has it) or a repair is
 *       pending (the snapshot);
 *   <li>no snapshot row: a device first seen in epoch 0 (or whose repair the audit retries) is
 *       rebuilt from {@code {}} and the log ({@code LOG}: (0, 1..toSeq)) when the log has every row
 *       from seq 1 on and there are at most {@code maxLogFetch}; otherwise {@code NOT_FOUND}. A
 *       device in a later epoch is never rebuilt from the log: state carries across epochs, and
 *       the log of its epoch starts from a state that only a snapshot holds.
 * </ul>
 * A read that fails fails the returned stage; the caller turns that into a {@code FAILED} result.
 */
public final class LookupPlanner {
    private final long maxLogFetch;

    public LookupPlanner(long maxLogFetch) {
        this.maxLogFetch = maxLogFetch;
    }

    public CompletionStage<LookupResult> lookup(LookupRequest r, SourceOfTruth db) {
        if (LookupRequest.Kind.AUDIT.equals(r.kind)) return audit(r, db);
        if (LookupRequest.Kind.GAP.equals(r.kind) && r.missing() <= maxLogFetch) {
            return db.log(r.deviceId, r.epoch, r.fromSeq, r.toSeq)
                    .thenCompose(rows -> rows.size() == r.missing()
                            ? done(LookupResult.log(r, rows.toArray(new Increment[0])))
                            : snapshot(r, db));
        }
        return snapshot(r, db);
    }

    /**
     * An audit reads the database's version (one primary-key lookup). Only when the database is
     * ahead of what the guard forwarded on a quiet audit (tail loss), or a repair is pending, does it
     * fetch the repair data.
     */
    private CompletionStage<LookupResult> audit(LookupRequest r, SourceOfTruth db) {
        return db.version(r.deviceId).thenCompose(found -> {
            if (found.isEmpty()) return r.repair ? fromLogAlone(r, db) : done(notFound(r));
            long dbEpoch = found.get().epoch();
            long dbSeq = found.get().seq();
            CompletionStage<LookupResult> result;
            if (r.repair) {
                result = snapshot(r, db);
            } else if (Versions.compare(dbEpoch, dbSeq, r.epoch, r.toSeq) <= 0 || !r.quiet) {
                // Not ahead; or ahead while the device still sends (in flight, not tail loss).
                result = done(LookupResult.version(r, dbEpoch, dbSeq));
            } else if (dbEpoch == r.epoch && dbSeq - r.toSeq <= maxLogFetch) {
                long missing = dbSeq - r.toSeq;
                result = db.log(r.deviceId, r.epoch, r.toSeq + 1, dbSeq).thenCompose(tail -> {
                    if (tail.size() != missing) return snapshotOnRecheck(r, db, dbEpoch, dbSeq);
                    return lost(r, tail.get(0).ts)
                            ? done(LookupResult.log(r, tail.toArray(new Increment[0])))
                            : done(LookupResult.version(r, dbEpoch, dbSeq));
                });
            } else {
                // A tail longer than the log fetch (or across a reset) is repaired from the snapshot;
                // whether it is lost is still the first missing row's date, read alone (one row).
                result = firstMissing(r, db, dbEpoch)
                        .thenCompose(first -> first.isEmpty()
                                ? snapshotOnRecheck(r, db, dbEpoch, dbSeq)
                                : lost(r, first.get(0).ts)
                                        ? snapshot(r, db)
                                        : done(LookupResult.version(r, dbEpoch, dbSeq)));
            }
            return result.thenApply(res -> res.withDatabaseVersion(dbEpoch, dbSeq));
        });
    }

    /**
     * Whether a quiet device's tail, whose first missing increment is dated {@code firstMissingTs},
     * is lost. Lost if it is older than the audit: the stream would have delivered it before the
     * watermark passed. A later one may be in flight: while the job catches up, event time is
     * behind the wall clock and the increments written meanwhile are still in the backlog, however
     * many re-checks pass. Only one dated ahead of the wall clock (a device clock ahead, which event
     * time may never reach) is lost on a re-check (the device stayed quiet since).
     */
    private static boolean lost(LookupRequest r, long firstMissingTs) {
        return firstMissingTs <= r.ts || (r.recheck && firstMissingTs > r.issuedAt);
    }

    /**
     * The first increment the device's forwarded version misses, as at most one log row: the next
     * seq of its epoch, or, when that epoch ended there and the database is in a later one, the
     * first row of the database's epoch (no older than the first missing one: a lower bound on
     * what is in flight, so a real loss is still found once event time passes it). Empty when the
     * log no longer has it.
     */
    private static CompletionStage<List<Increment>> firstMissing(LookupRequest r, SourceOfTruth db, long dbEpoch) {
        CompletionStage<List<Increment>> next = db.log(r.deviceId, r.epoch, r.toSeq + 1, r.toSeq + 1);
        if (dbEpoch == r.epoch) return next;
        return next.thenCompose(rows -> rows.isEmpty() ? db.log(r.deviceId, dbEpoch, 1, 1) : done(rows));
    }

    /**
     * Without the log's event times, lost and in flight look alike: the first quiet audit answers
     * with the version (IN_FLIGHT), and a re-check one interval later that still finds the
     * database ahead, with the device quiet all along, takes the snapshot.
     */
    private CompletionStage<LookupResult> snapshotOnRecheck(
            LookupRequest r, SourceOfTruth db, long dbEpoch, long dbSeq) {
        return r.recheck ? snapshot(r, db) : done(LookupResult.version(r, dbEpoch, dbSeq));
    }

    private CompletionStage<LookupResult> snapshot(LookupRequest r, SourceOfTruth db) {
        return db.snapshot(r.deviceId).thenCompose(found -> {
            if (found.isEmpty()) return fromLogAlone(r, db);
            SourceOfTruth.Snapshot snap = found.get();
            // The snapshot lags the request: continue it from the log where the log has the rows
            // (in the request's epoch: from seq 1 when the snapshot has not reached that epoch yet).
            long from = snap.epoch() == r.epoch ? snap.seq() + 1 : snap.epoch() < r.epoch ? 1 : Long.MAX_VALUE;
            long tail = r.toSeq - from + 1;
            if (tail <= 0 || tail > maxLogFetch) {
                return done(LookupResult.snapshot(r, snap.epoch(), snap.seq(), snap.state(), null));
            }
            return db.log(r.deviceId, r.epoch, from, r.toSeq)
                    .thenApply(rows -> LookupResult.snapshot(
                            r, snap.epoch(), snap.seq(), snap.state(), rows.toArray(new Increment[0])));
        });
    }

    /**
     * A device without a snapshot row: in epoch 0 its state is the merge of (0, 1..toSeq) onto
     * {@code {}}, so a first-seen lookup (or the audit's retry of a repair) is answered from the log
     * when it has every one of those rows and there are at most {@code maxLogFetch} (the reconciler
     * publishes them as {@code source: log} and replays what it held). Never in a later epoch: its
     * first increment applies to the state the earlier epochs left, which only a snapshot holds
     * (the log does not say where an epoch ended, and its retention may have trimmed them). Nor for
     * a gap: its rows were just read and are not all there.
     */
    private CompletionStage<LookupResult> fromLogAlone(LookupRequest r, SourceOfTruth db) {
        boolean rebuild =
                LookupRequest.Kind.FIRST_SEEN.equals(r.kind) || (LookupRequest.Kind.AUDIT.equals(r.kind) && r.repair);
        if (!rebuild) return done(notFound(r));
        if (r.epoch > 0) {
            return done(notFound(
                    r,
                    "; in epoch " + r.epoch + " the log cannot rebuild it (state carries across epochs):"
                            + " it waits for its snapshot"));
        }
        if (r.toSeq < 1 || r.toSeq > maxLogFetch) {
            return done(notFound(
                    r,
                    "; rebuilding it from the log would take " + r.toSeq + " rows, over --resync.max-log-fetch ("
                            + maxLogFetch + ")"));
        }
        return db.log(r.deviceId, 0, 1, r.toSeq)
                .thenApply(rows -> rows.size() == r.toSeq
                        ? LookupResult.log(r, rows.toArray(new Increment[0]))
                        : notFound(
                                r,
                                "; the log has " + rows.size() + " of the rows (0, 1.." + r.toSeq
                                        + ") that would rebuild it"));
    }

    private static LookupResult notFound(LookupRequest r) {
        return notFound(r, "");
    }

    private static LookupResult notFound(LookupRequest r, String why) {
        return LookupResult.failed(
                r, LookupResult.Outcome.NOT_FOUND, "device " + r.deviceId + " has no row in device_snapshot" + why);
    }

    private static <T> CompletionStage<T> done(T r) {
        return CompletableFuture.completedFuture(r);
    }
}
