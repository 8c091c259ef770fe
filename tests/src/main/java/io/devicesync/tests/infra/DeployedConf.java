package io.devicesync.tests.infra;

import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.runtime.clusterframework.TaskExecutorProcessUtils;

/**
 * The settings of the cluster configuration ({@code flink-conf/config.yaml}) that shape how the job
 * checkpoints: unaligned checkpoints with interruptible timers, their alignment timeout, RocksDB's
 * tuning. The local run, the end-to-end suites and the benchmark run the job with them, as it runs
 * deployed. The benchmark also gives RocksDB the managed memory a deployed TaskManager has
 * ({@link #managedMemory}).
 */
public final class DeployedConf {
    private DeployedConf() {}

    /**
     * {@code c} with those settings. The working directory is the project's (the local run, the
     * benchmark) or one of its modules (the tests).
     */
    public static Configuration apply(Configuration c) {
        deployed().toMap().forEach((k, v) -> {
            if (k.startsWith("execution.checkpointing.unaligned.")
                    || k.equals("execution.checkpointing.aligned-checkpoint-timeout")
                    || k.startsWith("state.backend.rocksdb.")) c.setString(k, v);
        });
        return c;
    }

    /**
     * The managed memory of a TaskManager as the cluster configuration sizes it (its process size,
     * the managed fraction): what RocksDB has in every TaskManager of the deployed cluster, for
     * its slots together.
     */
    public static MemorySize managedMemory() {
        return TaskExecutorProcessUtils.processSpecFromConfig(deployed()).getManagedMemorySize();
    }

    private static Configuration deployed() {
        Path dir = Path.of("flink-conf");
        if (!Files.isRegularFile(dir.resolve("config.yaml"))) dir = Path.of("..", "flink-conf");
        if (!Files.isRegularFile(dir.resolve("config.yaml")))
            throw new IllegalStateException("no flink-conf/config.yaml in "
                    + Path.of("").toAbsolutePath() + " or its parent: run from the project or one of its modules");
        return GlobalConfiguration.loadConfiguration(dir.toString());
    }
}
