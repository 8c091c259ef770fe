package io.devicesync.model;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The one JSON configuration of the job. {@link ObjectMapper} is thread-safe once configured, so a
 * single instance serves every operator (never one per record).
 */
public final class Json {
    private Json() {}

    public static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION)
            .disable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();

    public static final byte[] EMPTY_OBJECT = {'{', '}'};

    public static JsonNode parse(byte[] bytes) {
        try {
            return MAPPER.readTree(bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static byte[] bytes(JsonNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Valid JSON text as compact bytes, strings and numbers as written, like the documents the
     * job builds from increments; through Jackson's tree only where {@link RawJson} cannot (an
     * escaped or repeated member name, an object of more than 256 members).
     */
    public static byte[] compact(byte[] valid) {
        int from = RawJson.skipWs(valid, 0, valid.length);
        int to = valid.length;
        while (to > from && RawJson.isWs(valid[to - 1])) to--;
        byte[] plain = RawJson.compactPlain(valid, from, to);
        return plain != null ? plain : bytes(parse(valid));
    }

    /** Writes one value with a streaming generator; {@code body} must write exactly one value. */
    public static byte[] write(GeneratorBody body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = MAPPER.getFactory().createGenerator(out)) {
            body.write(g);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** Writes already-serialized JSON bytes as a raw value (they are compact JSON we produced). */
    public static void writeRaw(JsonGenerator g, byte[] json) throws IOException {
        g.writeRawValue(new String(json, java.nio.charset.StandardCharsets.UTF_8));
    }

    @FunctionalInterface
    public interface GeneratorBody {
        void write(JsonGenerator g) throws IOException;
    }
}
