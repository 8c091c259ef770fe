package io.devicesync.tests.infra;

import io.devicesync.tests.sim.SimulatedConsumer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The embedded Kafka broker in a JVM of its own, so that a benchmark measures the CPU of Flink's
 * process only. Also runs simulated consumers there on command. The parent talks over stdin/stdout:
 * the child prints {@code BOOTSTRAP <servers>} when ready and takes the commands
 * {@code consumers <state> <redispatch> <acks> <name,name>}, {@code stop-consumers}, {@code exit}.
 */
public final class KafkaProcess implements AutoCloseable {
    private final Process process;
    private final PrintWriter commands;
    private final BufferedReader replies;
    private final String bootstrap;

    private KafkaProcess(Process process) throws IOException {
        this.process = process;
        this.commands = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
        this.replies = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String line;
        String found = null;
        while (found == null && (line = replies.readLine()) != null) {
            if (line.startsWith("BOOTSTRAP ")) found = line.substring("BOOTSTRAP ".length());
        }
        if (found == null) throw new IOException("the Kafka process ended before it was ready");
        this.bootstrap = found;
    }

    /** Starts the broker under {@code dir} in a child JVM with this JVM's class path. */
    public static KafkaProcess start(Path dir) throws IOException {
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(
                java,
                "-Xmx2g",
                "-Ddevicesync.log.file=" + dir.resolveSibling("kafka-process.log"),
                "-cp",
                System.getProperty("java.class.path"),
                KafkaProcess.class.getName(),
                dir.toAbsolutePath().toString());
        pb.redirectError(ProcessBuilder.Redirect.appendTo(
                dir.resolveSibling("kafka-process.log").toFile()));
        Files.createDirectories(dir);
        return new KafkaProcess(pb.start());
    }

    public String bootstrapServers() {
        return bootstrap;
    }

    /** Runs healthy acking consumers in the broker's process; returns when they are started. */
    public void startConsumers(String stateTopic, String redispatchTopic, String acksTopic, List<String> names)
            throws IOException {
        command("consumers " + stateTopic + " " + redispatchTopic + " " + acksTopic + " " + String.join(",", names));
    }

    /**
     * The CPU time the broker's process has used so far (the broker and, in a delivery run, the
     * simulated consumers), in ns; -1 where the platform does not tell.
     */
    public long cpuNanos() {
        return process.toHandle()
                .info()
                .totalCpuDuration()
                .map(java.time.Duration::toNanos)
                .orElse(-1L);
    }

    public void stopConsumers() throws IOException {
        command("stop-consumers");
    }

    private void command(String c) throws IOException {
        commands.println(c);
        String reply = replies.readLine();
        if (!"OK".equals(reply)) throw new IOException("the Kafka process answered " + reply + " to " + c);
    }

    @Override
    public void close() throws Exception {
        commands.println("exit");
        if (!process.waitFor(60, TimeUnit.SECONDS)) process.destroyForcibly();
    }

    /** The child. */
    public static void main(String[] args) throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start(Paths.get(args[0]))) {
            System.out.println("BOOTSTRAP " + kafka.bootstrapServers());
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            List<SimulatedConsumer> consumers = new ArrayList<>();
            String line;
            while ((line = in.readLine()) != null && !line.equals("exit")) {
                String[] w = line.split(" ");
                if (w[0].equals("consumers")) {
                    long seed = 1;
                    for (String name : w[4].split(",")) {
                        consumers.add(new SimulatedConsumer(kafka.bootstrapServers(), name, w[1], w[2], w[3], 0, seed++)
                                .start());
                    }
                } else if (w[0].equals("stop-consumers")) {
                    for (SimulatedConsumer c : consumers) c.close();
                    consumers.clear();
                }
                System.out.println("OK");
                System.out.flush();
            }
            for (SimulatedConsumer c : consumers) c.close();
        }
    }
}
