package io.devicesync.tests.infra;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.model.Json;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads a job's operator metrics through the Flink REST API, as the web UI shows them: each
 * metric summed over the subtasks of the vertices that have it.
 */
public final class FlinkRest {
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final String base;

    public FlinkRest(String baseUrl) {
        this.base = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
    }

    /** Any GET of the REST API, as JSON (for a test's failure message). */
    public JsonNode get(String path) throws IOException, InterruptedException {
        HttpResponse<byte[]> r = http.send(
                HttpRequest.newBuilder(URI.create(base + path))
                        .timeout(Duration.ofSeconds(10))
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200) throw new IOException("GET " + path + ": HTTP " + r.statusCode());
        return Json.parse(r.body());
    }

    /** How many checkpoints of the job have completed. */
    public long completedCheckpoints(String jobId) throws IOException, InterruptedException {
        return get("/jobs/" + jobId + "/checkpoints")
                .get("counts")
                .get("completed")
                .asLong();
    }

    /** The id of the job's latest completed checkpoint, or -1 if none completed. */
    public long latestCompletedCheckpointId(String jobId) throws IOException, InterruptedException {
        JsonNode c = get("/jobs/" + jobId + "/checkpoints").path("latest").path("completed");
        return c.isMissingNode() || c.isNull() ? -1 : c.get("id").asLong();
    }

    /**
     * How many times the job restarted (the job metric {@code numRestarts}), or -1 while the web
     * monitor has not fetched it yet.
     */
    public long numRestarts(String jobId) throws IOException, InterruptedException {
        JsonNode values = get("/jobs/" + jobId + "/metrics?get=numRestarts");
        for (JsonNode m : values) {
            if (m.get("id").asText().equals("numRestarts"))
                return (long) Double.parseDouble(m.get("value").asText());
        }
        return -1;
    }

    /**
     * The checkpoint or savepoint the job last restored from ({@code latest.restored} of
     * {@code /jobs/<id>/checkpoints}: {@code id}, {@code is_savepoint}, {@code external_path}...),
     * or null if it never restored.
     */
    public JsonNode restoredFrom(String jobId) throws IOException, InterruptedException {
        JsonNode r = get("/jobs/" + jobId + "/checkpoints").path("latest").path("restored");
        return r.isMissingNode() || r.isNull() ? null : r;
    }

    /** Whether the job is RUNNING and so is every subtask of every vertex (deployed, not restarting). */
    public boolean allTasksRunning(String jobId) throws IOException, InterruptedException {
        JsonNode job = get("/jobs/" + jobId);
        if (!"RUNNING".equals(job.get("state").asText())) return false;
        for (JsonNode v : job.get("vertices")) {
            JsonNode counts = v.get("tasks");
            int parallelism = v.get("parallelism").asInt();
            if (counts == null || counts.path("RUNNING").asInt() != parallelism) return false;
        }
        return true;
    }

    /** The TaskManagers (their resource ids) that run at least one subtask of the job. */
    public Set<String> taskManagersOf(String jobId) throws IOException, InterruptedException {
        Set<String> out = new TreeSet<>();
        for (JsonNode v : get("/jobs/" + jobId).get("vertices")) {
            for (JsonNode st :
                    get("/jobs/" + jobId + "/vertices/" + v.get("id").asText()).get("subtasks")) {
                out.add(st.get("taskmanager-id").asText());
            }
        }
        return out;
    }

    /**
     * The smallest and the largest value over all subtasks ({min, max}) of the operator metric whose
     * name ends with {@code .<name>}, or null if no vertex has it (yet): a gauge that must be 0 on
     * every subtask, not only in sum.
     */
    public long[] minMax(String jobId, String name) throws IOException, InterruptedException {
        long[] out = null;
        for (JsonNode v : get("/jobs/" + jobId).get("vertices")) {
            String path = "/jobs/" + jobId + "/vertices/" + v.get("id").asText() + "/subtasks/metrics";
            List<String> wanted = new ArrayList<>();
            for (JsonNode m : get(path)) {
                String id = m.get("id").asText();
                if (id.endsWith("." + name)) wanted.add(id);
            }
            if (wanted.isEmpty()) continue;
            JsonNode values = get(
                    path + "?agg=min,max&get=" + URLEncoder.encode(String.join(",", wanted), StandardCharsets.UTF_8));
            for (JsonNode m : values) {
                long min = (long) m.get("min").asDouble();
                long max = (long) m.get("max").asDouble();
                out = out == null ? new long[] {min, max} : new long[] {Math.min(out[0], min), Math.max(out[1], max)};
            }
        }
        return out;
    }

    /** Each vertex's name and parallelism. */
    public Map<String, Integer> parallelismByVertex(String jobId) throws IOException, InterruptedException {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (JsonNode v : get("/jobs/" + jobId).get("vertices"))
            out.put(v.get("name").asText(), v.get("parallelism").asInt());
        return out;
    }

    /**
     * Sums, over all vertices, the operator metrics whose name ends with {@code .<name>} for each
     * requested name. Missing metrics count 0.
     */
    public Map<String, Long> sums(String jobId, List<String> names) throws IOException, InterruptedException {
        Map<String, Long> out = new HashMap<>();
        for (String n : names) out.put(n, 0L);
        for (JsonNode v : get("/jobs/" + jobId).get("vertices")) {
            String path = "/jobs/" + jobId + "/vertices/" + v.get("id").asText() + "/subtasks/metrics";
            List<String> wanted = new ArrayList<>();
            for (JsonNode m : get(path)) {
                String id = m.get("id").asText();
                for (String n : names) if (id.endsWith("." + n) && !id.contains(".reason.")) wanted.add(id);
            }
            if (wanted.isEmpty()) continue;
            JsonNode values =
                    get(path + "?agg=sum&get=" + URLEncoder.encode(String.join(",", wanted), StandardCharsets.UTF_8));
            for (JsonNode m : values) {
                String id = m.get("id").asText();
                for (String n : names) {
                    if (id.endsWith("." + n)) out.merge(n, (long) m.get("sum").asDouble(), Long::sum);
                }
            }
        }
        return out;
    }

    /** One checkpoint as the web UI's history shows it, with its slowest vertex's breakdown. */
    public record CheckpointTimes(
            long id,
            String status,
            long triggeredAt,
            long durationMs,
            String slowestVertex,
            long startDelayMs,
            long alignmentMs,
            long syncMs,
            long asyncMs) {
        @Override
        public String toString() {
            return String.format(
                    java.util.Locale.ROOT,
                    "#%d at %tT.%<tL %s %,d ms (slowest: %s, start delay %,d, alignment %,d, sync %,d,"
                            + " async %,d ms)",
                    id,
                    triggeredAt,
                    status,
                    durationMs,
                    slowestVertex,
                    startDelayMs,
                    alignmentMs,
                    syncMs,
                    asyncMs);
        }
    }

    /**
     * The job's checkpoints triggered at or after {@code since} (epoch ms), savepoints left out, in
     * order: a checkpoint still in progress counts with its age so far. Each with the vertex whose
     * subtasks took longest and that vertex's slowest start delay (the barrier's wait behind the
     * task's work), alignment, synchronous and asynchronous parts.
     */
    public List<CheckpointTimes> checkpointsSince(String jobId, long since) throws IOException, InterruptedException {
        Map<String, String> names = new HashMap<>();
        for (JsonNode v : get("/jobs/" + jobId).get("vertices"))
            names.put(v.get("id").asText(), v.get("name").asText());
        List<CheckpointTimes> out = new ArrayList<>();
        for (JsonNode c : get("/jobs/" + jobId + "/checkpoints").path("history")) {
            if (c.path("is_savepoint").asBoolean() || c.get("trigger_timestamp").asLong() < since) continue;
            long id = c.get("id").asLong();
            String status = c.get("status").asText();
            long duration = "IN_PROGRESS".equals(status)
                    ? System.currentTimeMillis() - c.get("trigger_timestamp").asLong()
                    : c.get("end_to_end_duration").asLong();
            String slowest = "?";
            long slowestMs = -1;
            JsonNode tasks =
                    get("/jobs/" + jobId + "/checkpoints/details/" + id).path("tasks");
            for (var e : (Iterable<Map.Entry<String, JsonNode>>) tasks::fields) {
                long d = e.getValue().path("end_to_end_duration").asLong(-1);
                if (d > slowestMs) {
                    slowestMs = d;
                    slowest = e.getKey();
                }
            }
            long startDelay = -1, alignment = -1, sync = -1, async = -1;
            if (!"?".equals(slowest)) {
                JsonNode sum = get("/jobs/" + jobId + "/checkpoints/details/" + id + "/subtasks/" + slowest)
                        .path("summary");
                startDelay = sum.path("start_delay").path("max").asLong(-1);
                alignment = sum.path("alignment").path("duration").path("max").asLong(-1);
                sync = sum.path("checkpoint_duration").path("sync").path("max").asLong(-1);
                async = sum.path("checkpoint_duration")
                        .path("async")
                        .path("max")
                        .asLong(-1);
            }
            out.add(new CheckpointTimes(
                    id,
                    status,
                    c.get("trigger_timestamp").asLong(),
                    duration,
                    names.getOrDefault(slowest, slowest),
                    startDelay,
                    alignment,
                    sync,
                    async));
        }
        out.sort(java.util.Comparator.comparingLong(CheckpointTimes::id));
        return out;
    }
}
