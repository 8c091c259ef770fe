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
import java.util.List;
import java.util.Map;

/**
 * Reads a job's operator metrics through the Flink REST API, as the web UI shows them: each
 * metric summed over the subtasks of the vertices that have it.
 */
public final class FlinkRest {
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final String base;

    public FlinkRest(String baseUrl) {
        this.base = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
    }

    private JsonNode get(String path) throws IOException, InterruptedException {
        HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(10))
                .GET().build(), HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200) throw new IOException("GET " + path + ": HTTP " + r.statusCode());
        return Json.parse(r.body());
    }

    /** How many checkpoints of the job have completed. */
    public long completedCheckpoints(String jobId) throws IOException, InterruptedException {
        return get("/jobs/" + jobId + "/checkpoints").get("counts").get("completed").asLong();
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
            JsonNode values = get(path + "?agg=sum&get=" + URLEncoder.encode(String.join(",", wanted), StandardCharsets.UTF_8));
            for (JsonNode m : values) {
                String id = m.get("id").asText();
                for (String n : names) {
                    if (id.endsWith("." + n)) out.merge(n, (long) m.get("sum").asDouble(), Long::sum);
                }
            }
        }
        return out;
    }
}
