package io.devicesync.operators.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.operators.TestData;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.stream.Collectors;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.datastream.AsyncDataStream;
import org.apache.flink.streaming.api.operators.async.AsyncWaitOperatorFactory;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/**
 * The lookup's breaker and the outage a failure belongs to: a lookup that fails while the breaker
 * is not closed (the failure that opened it included) carries the breaker's open report, as one
 * the open breaker refused does. The AlertPolicy then folds its RESYNC_FAILED into that outage
 * whichever reconciler subtask it goes through, also when the closing report, riding on another
 * device's result through another subtask, gets there first.
 */
class SnapshotLookupBreakerTest {

    /** A database that fails every read. */
    static final class Down implements SourceOfTruth.Factory {
        private static final long serialVersionUID = 1L;

        @Override
        public SourceOfTruth open() {
            return new SourceOfTruth() {
                @Override
                public CompletionStage<Optional<Version>> version(String deviceId) {
                    return CompletableFuture.failedFuture(new java.io.IOException("connection refused"));
                }

                @Override
                public CompletionStage<Optional<Snapshot>> snapshot(String deviceId) {
                    return CompletableFuture.failedFuture(new java.io.IOException("connection refused"));
                }

                @Override
                public CompletionStage<List<Increment>> log(String deviceId, long epoch, long fromSeq, long toSeq) {
                    return CompletableFuture.failedFuture(new java.io.IOException("connection refused"));
                }
            };
        }
    }

    @Test
    void aFailureWhileTheBreakerIsNotClosedCarriesItsOpenReport() throws Exception {
        SnapshotLookup.Config config = new SnapshotLookup.Config(
                List.of("postgresql://unused"), "u", "p", 1, 100, 5_000, 100, 2, 60_000, 10, 0);
        try (OneInputStreamOperatorTestHarness<LookupRequest, LookupResult> h = new OneInputStreamOperatorTestHarness<>(
                new AsyncWaitOperatorFactory<>(
                        new SnapshotLookup(config, new Down()), 10_000, 10, AsyncDataStream.OutputMode.ORDERED),
                TypeInformation.of(LookupRequest.class).createSerializer(new SerializerConfigImpl()))) {
            h.open();
            for (int i = 1; i <= 3; i++) {
                h.processElement(new StreamRecord<>(
                        new LookupRequest("d" + i, LookupRequest.Kind.GAP, 0, 2, 2, TestData.T0, 0)));
            }
            h.endInput();
            List<LookupResult> out = h.extractOutputValues().stream()
                    .sorted(Comparator.comparing(r -> r.request.deviceId))
                    .collect(Collectors.toList());
            assertEquals(
                    List.of("FAILED", "FAILED", "UNAVAILABLE"),
                    out.stream().map(r -> r.outcome.name()).collect(Collectors.toList()));
            assertNull(out.get(0).rejectedBy, "the first failure: the breaker is still closed");
            assertNotNull(out.get(1).rejectedBy, "the second opened the breaker: that outage's");
            assertTrue(out.get(1).rejectedBy.open);
            assertEquals(
                    out.get(1).rejectedBy.toString(),
                    out.get(2).rejectedBy.toString(),
                    "refused by the breaker that failure opened: the same report");
        }
    }
}
