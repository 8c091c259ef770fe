package io.devicesync.operators.input;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.model.Alert;
import io.devicesync.model.DeadLetter;
import io.devicesync.model.Json;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * INVALID_INPUT windows take a rejected record's time, clamped like the events' event time: a time
 * further than the max future skew ahead of the wall clock counts as the wall clock plus the skew,
 * so a producer's far-future timestamps cannot open windows that close in days (or never) and keep
 * their counts in state meanwhile.
 */
class InvalidInputAlertsTest {
    static final long MINUTE = 60_000;
    /** The wall clock of the test (processing time), on a minute boundary. */
    static final long NOW = 29_396_666 * MINUTE;

    static final Duration SKEW = Duration.ofMinutes(5);

    private KeyedOneInputStreamOperatorTestHarness<String, DeadLetter, Alert> h;

    @BeforeEach
    void open() throws Exception {
        h = ProcessFunctionTestHarnesses.forKeyedProcessFunction(
                new InvalidInputAlerts(Duration.ofMinutes(1), SKEW), d -> d.reason, Types.STRING);
        h.setProcessingTime(NOW);
    }

    @AfterEach
    void close() throws Exception {
        h.close();
    }

    private static DeadLetter rejected(String reason, long timestamp) {
        return DeadLetter.of(
                null, "x".getBytes(StandardCharsets.UTF_8), 64 * 1024, reason, "device-events", 0, 0, timestamp);
    }

    private List<JsonNode> alertDetails() {
        return h.extractOutputValues().stream()
                .map(a -> Json.parse(a.details.getBytes(StandardCharsets.UTF_8)))
                .toList();
    }

    @Test
    void aFarFutureTimeCountsAsTheWallClockPlusTheSkew() throws Exception {
        h.processElement(rejected("NOT_JSON", NOW + Duration.ofDays(30).toMillis()), NOW);
        h.processElement(rejected("NOT_JSON", Long.MAX_VALUE), NOW);
        h.processElement(rejected("NOT_JSON", NOW + 5 * MINUTE + 1), NOW);
        // Event time reaches the end of the window at wall clock + skew: its alert goes out.
        h.processWatermark(NOW + 6 * MINUTE - 1);
        List<JsonNode> alerts = alertDetails();
        assertEquals(1, alerts.size(), "one alert for the window at the wall clock plus the skew: " + alerts);
        assertEquals(3, alerts.get(0).get("count").asLong());
        assertEquals(NOW + 5 * MINUTE, alerts.get(0).get("windowStart").asLong());
        assertEquals(0, h.numEventTimeTimers(), "no window left open in the future");
    }

    @Test
    void aTimeWithinTheSkewKeepsItsOwnWindow() throws Exception {
        h.processElement(rejected("NOT_UTF8", NOW + 2 * MINUTE + 5), NOW);
        h.processElement(rejected("NOT_UTF8", NOW + 10), NOW);
        h.processWatermark(NOW + 3 * MINUTE - 1);
        List<JsonNode> alerts = alertDetails();
        assertEquals(
                List.of(NOW, NOW + 2 * MINUTE),
                alerts.stream().map(a -> a.get("windowStart").asLong()).toList());
        assertEquals(
                List.of(1L, 1L),
                alerts.stream().map(a -> a.get("count").asLong()).toList());
    }

    @Test
    void theWallClockMovesTheClampAlong() throws Exception {
        h.setProcessingTime(NOW + 60 * MINUTE);
        h.processElement(rejected("TOO_LARGE", Long.MAX_VALUE), NOW + 60 * MINUTE);
        h.processWatermark(NOW + 66 * MINUTE - 1);
        assertEquals(
                List.of(NOW + 65 * MINUTE),
                alertDetails().stream().map(a -> a.get("windowStart").asLong()).toList());
    }
}
