package io.devicesync.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.core.execution.CheckpointingMode;
import org.junit.jupiter.api.Test;

/** flink-conf/config.yaml says what the job relies on, in keys Flink 2.2 actually reads. */
class FlinkConfTest {

    @Test
    void clusterConfigurationHasWhatTheJobRelieson() {
        Configuration c = GlobalConfiguration.loadConfiguration(Path.of("..", "flink-conf").toString());
        assertEquals("rocksdb", c.get(StateBackendOptions.STATE_BACKEND));
        assertTrue(c.get(CheckpointingOptions.INCREMENTAL_CHECKPOINTS));
        assertEquals(CheckpointingMode.EXACTLY_ONCE, c.get(CheckpointingOptions.CHECKPOINTING_CONSISTENCY_MODE));
        assertEquals(Duration.ofSeconds(30), c.get(CheckpointingOptions.CHECKPOINTING_INTERVAL));
        assertTrue(c.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY).contains("checkpoints"));
        assertTrue(c.get(CheckpointingOptions.SAVEPOINT_DIRECTORY).contains("savepoints"));
        assertTrue(c.get(CheckpointingOptions.CHECKPOINTING_TIMEOUT).toMillis()
                < Long.parseLong(io.devicesync.sinks.KafkaSinks.DEFAULT_TRANSACTION_TIMEOUT_MS));
        assertEquals("exponential-delay", c.get(RestartStrategyOptions.RESTART_STRATEGY));
        assertFalse(c.get(PipelineOptions.GENERIC_TYPES));
    }
}
