package io.devicesync.tests;

import io.devicesync.tests.infra.EmbeddedDatabase;
import io.devicesync.tests.infra.EmbeddedKafka;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MetricOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/**
 * What every end-to-end test class shares: a real Kafka broker and a real PostgreSQL for the
 * class, their data in the class's temporary folder. Each class registers its own MiniCluster.
 */
abstract class EndToEnd {
    @TempDir
    static Path tmp;

    static EmbeddedKafka kafka;
    static EmbeddedDatabase db;

    /** A MiniCluster that never restarts a failed job (any failure fails the test), metrics fresh. */
    static Configuration noRestarts() {
        Configuration c = new Configuration();
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        c.set(MetricOptions.METRIC_FETCHER_UPDATE_INTERVAL, Duration.ofMillis(500));
        return c;
    }

    @BeforeAll
    static void startServices() throws Exception {
        kafka = EmbeddedKafka.start(tmp.resolve("kafka"));
        db = EmbeddedDatabase.start(tmp.resolve("pg"));
    }

    @AfterAll
    static void stopServices() throws Exception {
        if (db != null) db.close();
        if (kafka != null) kafka.close();
    }
}
