package io.devicesync.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class JsonMergePatchTest {

    private static JsonNode json(String s) {
        return Json.parse(s.getBytes(StandardCharsets.UTF_8));
    }

    /** Every example of RFC 7386, Appendix A. */
    @ParameterizedTest(name = "{0} + {1} = {2}")
    @CsvSource(
            delimiter = '|',
            value = {
                "{\"a\":\"b\"}                 | {\"a\":\"c\"}                    | {\"a\":\"c\"}",
                "{\"a\":\"b\"}                 | {\"b\":\"c\"}                    | {\"a\":\"b\",\"b\":\"c\"}",
                "{\"a\":\"b\"}                 | {\"a\":null}                     | {}",
                "{\"a\":\"b\",\"b\":\"c\"}     | {\"a\":null}                     | {\"b\":\"c\"}",
                "{\"a\":[\"b\"]}               | {\"a\":\"c\"}                    | {\"a\":\"c\"}",
                "{\"a\":\"c\"}                 | {\"a\":[\"b\"]}                  | {\"a\":[\"b\"]}",
                "{\"a\":{\"b\":\"c\"}}         | {\"a\":{\"b\":\"d\",\"c\":null}} | {\"a\":{\"b\":\"d\"}}",
                "{\"a\":[{\"b\":\"c\"}]}       | {\"a\":[1]}                      | {\"a\":[1]}",
                "[\"a\",\"b\"]                 | [\"c\",\"d\"]                    | [\"c\",\"d\"]",
                "{\"a\":\"b\"}                 | [\"c\"]                          | [\"c\"]",
                "{\"a\":\"foo\"}               | null                             | null",
                "{\"a\":\"foo\"}               | \"bar\"                          | \"bar\"",
                "{\"e\":null}                  | {\"a\":1}                        | {\"e\":null,\"a\":1}",
                "[1,2]                         | {\"a\":\"b\",\"c\":null}         | {\"a\":\"b\"}",
                "{}                            | {\"a\":{\"bb\":{\"ccc\":null}}}  | {\"a\":{\"bb\":{}}}",
            })
    void rfc7386AppendixA(String original, String patch, String expected) {
        assertEquals(json(expected), JsonMergePatch.apply(json(original), json(patch)));
        // on bytes (the hot path) and on the tree (its fallback), written exactly so
        byte[] o = original.getBytes(StandardCharsets.UTF_8);
        byte[] p = patch.getBytes(StandardCharsets.UTF_8);
        assertEquals(expected, new String(RawJson.merge(o, p), StandardCharsets.UTF_8));
        assertEquals(expected, new String(JsonMergePatch.applyOnTree(o, p), StandardCharsets.UTF_8));
    }

    /** The worked example of RFC 7386, section 3. */
    @Test
    void rfc7386Section3Example() {
        String target = "{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\",\"familyName\":\"Doe\"},"
                + "\"tags\":[\"example\",\"sample\"],\"content\":\"This will be unchanged\"}";
        String patch = "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\",\"author\":{\"familyName\":null},"
                + "\"tags\":[\"example\"]}";
        String expected = "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},\"tags\":[\"example\"],"
                + "\"content\":\"This will be unchanged\",\"phoneNumber\":\"+01-123-456-7890\"}";
        assertEquals(json(expected), JsonMergePatch.apply(json(target), json(patch)));
    }

    @Test
    void appliesPatchBytesToDocumentBytes() {
        byte[] out = JsonMergePatch.apply(
                "{\"temp\":4.5,\"door\":\"open\"}".getBytes(StandardCharsets.UTF_8),
                "{\"door\":null,\"fan\":{\"rpm\":900}}".getBytes(StandardCharsets.UTF_8));
        assertEquals("{\"temp\":4.5,\"fan\":{\"rpm\":900}}", new String(out, StandardCharsets.UTF_8));
    }
}
