package io.devicesync.tests.local;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.Codecs;
import io.devicesync.tests.infra.FlinkRest;
import io.devicesync.tests.infra.TopicReader;
import io.devicesync.tests.sim.SimulatedConsumer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/**
 * The local run's consumers of {@code device-state}: {@code --consumers billing:healthy,dashboard:flaky,archive:down}.
 * A healthy one acknowledges everything it reads; a flaky one loses 5 % of its acks; a down one
 * stops acknowledging a quarter into the run and comes back after another third of it.
 */
final class DeliveryDemo implements AutoCloseable {
    enum Behaviour {
        HEALTHY,
        FLAKY,
        DOWN
    }

    record Spec(String name, Behaviour behaviour) {}

    final List<Spec> specs;
    final List<SimulatedConsumer> consumers = new ArrayList<>();
    private final Map<String, Behaviour> behaviours = new LinkedHashMap<>();
    private long downFromNanos;
    private long downUntilNanos;

    /** Parses {@code name:healthy|flaky|down,...}; "none" lists no consumer. */
    static List<Spec> parse(String value) {
        List<Spec> out = new ArrayList<>();
        if (value.equals("none")) return out;
        for (String part : value.split(",")) {
            String[] nb = part.trim().split(":");
            if (nb.length != 2 || nb[0].isBlank()) {
                throw new IllegalArgumentException(
                        "--consumers: '" + part + "' is not name:healthy, name:flaky or name:down");
            }
            Behaviour b;
            try {
                b = Behaviour.valueOf(nb[1].trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--consumers: '" + nb[1] + "' is not healthy, flaky or down");
            }
            out.add(new Spec(nb[0].trim(), b));
        }
        return out;
    }

    DeliveryDemo(List<Spec> specs) {
        this.specs = specs;
        specs.forEach(s -> behaviours.put(s.name(), s.behaviour()));
    }

    String names() {
        return String.join(",", specs.stream().map(Spec::name).toList());
    }

    /** Starts the consumers; a down one is down from a quarter of {@code run} for a third of it. */
    void start(String bootstrap, long startedNanos, Duration run) {
        Duration length = run.isZero() ? Duration.ofSeconds(90) : run;
        downFromNanos = startedNanos + length.toNanos() / 4;
        downUntilNanos = downFromNanos + length.toNanos() / 3;
        long seed = 1;
        for (Spec s : specs) {
            double drop = s.behaviour() == Behaviour.FLAKY ? 0.05 : 0.0;
            consumers.add(new SimulatedConsumer(
                            bootstrap, s.name(), "device-state", "device-redispatch", "device-acks", drop, seed++)
                    .start());
        }
    }

    /** Takes the down consumers down, or brings them back, as the run's clock says. */
    void tick() {
        long now = System.nanoTime();
        for (SimulatedConsumer c : consumers) {
            if (behaviours.get(c.name()) != Behaviour.DOWN) continue;
            boolean down = now >= downFromNanos && now < downUntilNanos;
            if (down == c.isAcking()) {
                c.setAcking(!down);
                LocalRun.say("Consumer " + c.name()
                        + (down ? " goes down: it stops acknowledging." : " is back: it acknowledges again."));
            }
        }
    }

    /** The delivery part of the progress line, from the job's per-consumer metrics. */
    String progress(FlinkRest rest, String jobId) throws java.io.IOException, InterruptedException {
        List<String> names = new ArrayList<>();
        for (Spec s : specs) {
            for (String m : List.of(
                    "acksApplied", "unconsumedEpisodes", "redispatchesSent", "redispatchesExhausted", "backlog")) {
                names.add("consumer." + s.name() + "." + m);
            }
        }
        Map<String, Long> m = rest.sums(jobId, names);
        StringBuilder line = new StringBuilder("        delivery:");
        for (Spec s : specs) {
            String p = "consumer." + s.name() + ".";
            line.append(String.format(
                    Locale.ROOT,
                    " %s (%s%s) acks %,d, unconsumed %,d, redispatched %,d, dead %,d, backlog %,d |",
                    s.name(),
                    s.behaviour().name().toLowerCase(Locale.ROOT),
                    behaviours.get(s.name()) == Behaviour.DOWN && !acking(s.name()) ? ", down now" : "",
                    m.get(p + "acksApplied"),
                    m.get(p + "unconsumedEpisodes"),
                    m.get(p + "redispatchesSent"),
                    m.get(p + "redispatchesExhausted"),
                    m.get(p + "backlog")));
        }
        line.setLength(line.length() - 2);
        return line.toString();
    }

    private boolean acking(String name) {
        return consumers.stream()
                .filter(c -> c.name().equals(name))
                .findFirst()
                .map(SimulatedConsumer::isAcking)
                .orElse(true);
    }

    /** Per consumer, from the topics: episodes (UNCONSUMED), redispatches, dead letters. */
    void report(String bootstrap) {
        Map<String, long[]> per = new LinkedHashMap<>();
        specs.forEach(s -> per.put(s.name(), new long[4]));
        try (TopicReader alerts = new TopicReader(bootstrap, "device-alerts");
                TopicReader redispatches = new TopicReader(bootstrap, "device-redispatch");
                TopicReader deadLetters = new TopicReader(bootstrap, "device-redispatch-dlq")) {
            readAll(alerts).forEach(r -> {
                Alert a = Codecs.readAlert(r.value());
                long[] n = a.consumer == null ? null : per.get(a.consumer);
                if (n == null) return;
                if (a.type == AlertType.UNCONSUMED) n[0]++;
                // Once its BACKLOG is open, a consumer's UNCONSUMED come as summaries (AlertPolicy).
                if (a.type == AlertType.ALERT_SUMMARY) {
                    var d = io.devicesync.model.Json.parse(a.details.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                    if (d.get("summarizedType").asText().equals("UNCONSUMED"))
                        n[0] += d.get("count").asLong();
                }
                if (a.type == AlertType.BACKLOG) n[3]++;
            });
            readAll(redispatches).forEach(r -> {
                long[] n = per.get(Codecs.readRedispatch(r.value()).consumer);
                if (n != null) n[1]++;
            });
            readAll(deadLetters).forEach(r -> {
                Header h = r.headers().lastHeader("devicesync.consumer");
                long[] n = h == null ? null : per.get(new String(h.value(), java.nio.charset.StandardCharsets.UTF_8));
                if (n != null) n[2]++;
            });
        }
        LocalRun.say("Delivery report (from device-alerts, device-redispatch, device-redispatch-dlq):");
        for (Spec s : specs) {
            long[] n = per.get(s.name());
            String verdict = s.behaviour() == Behaviour.HEALTHY
                    ? (n[0] == 0
                            ? "  OK: no UNCONSUMED for a healthy consumer"
                            : "  NOT OK: a healthy consumer had UNCONSUMED")
                    : "";
            LocalRun.say(String.format(
                    Locale.ROOT,
                    "  %-12s %-8s episodes (UNCONSUMED) %,d, redispatches %,d, dead letters %,d,"
                            + " backlog alerts %,d%s",
                    s.name(),
                    s.behaviour().name().toLowerCase(Locale.ROOT),
                    n[0],
                    n[1],
                    n[2],
                    n[3],
                    verdict));
        }
    }

    static List<ConsumerRecord<byte[], byte[]>> readAll(TopicReader reader) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        do {
            out.addAll(reader.poll(Duration.ofMillis(300)));
        } while (!reader.atEnd());
        return out;
    }

    @Override
    public void close() throws Exception {
        for (SimulatedConsumer c : consumers) c.close();
    }
}
