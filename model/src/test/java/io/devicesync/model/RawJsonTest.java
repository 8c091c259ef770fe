package io.devicesync.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The byte-level merge and compaction against Jackson's tree, which they replace on the hot path. */
class RawJsonTest {

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String s(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    @Test
    void keepsNumbersAndStringsAsWrittenAndLeavesOutWhitespace() {
        assertEquals(
                "{\"t\":21.50,\"o\":{\"x\":[1,2]},\"big\":123456789012345678901234567890.5,\"e\":1e999,\"s\":\"a\\u0041 b\"}",
                s(
                        JsonMergePatch.apply(
                                b("{ \"t\" : 1, \"o\" : { \"x\" : [ 1 , 2 ] } }"),
                                b(
                                        "{\"t\": 21.50, \"big\":123456789012345678901234567890.5, \"e\":1e999, \"s\":\"a\\u0041 b\"}"))));
    }

    @Test
    void aNameGivenTwiceInThePatchKeepsItsFirstPlaceAndItsLastValue() {
        assertEquals("{\"a\":2,\"b\":1}", s(RawJson.merge(b("{\"a\":0,\"b\":1}"), b("{\"a\":1,\"a\":2}"))));
        assertEquals("{\"x\":0,\"a\":2,\"b\":1}", s(RawJson.merge(b("{\"x\":0}"), b("{\"a\":1,\"b\":1,\"a\":2}"))));
        assertEquals("{\"b\":1}", s(RawJson.merge(b("{\"a\":0,\"b\":1}"), b("{\"a\":1,\"a\":null}"))));
        assertEquals("{\"a\":3}", s(RawJson.merge(null, b("{\"a\":null,\"a\":3}"))));
    }

    @Test
    void anEscapedNameOrTooManyMembersGoesThroughTheTree() {
        assertNull(RawJson.merge(b("{}"), b("{\"a\\u0062\":1}")));
        assertEquals("{\"ab\":1}", s(JsonMergePatch.apply(b("{\"ab\":0}"), b("{\"a\\u0062\":1}"))));
        StringBuilder big = new StringBuilder("{");
        for (int i = 0; i <= RawJson.MAX_MEMBERS; i++)
            big.append(i == 0 ? "" : ",").append("\"m").append(i).append("\":").append(i);
        big.append('}');
        assertNull(RawJson.merge(b("{}"), b(big.toString())));
        assertEquals(
                s(JsonMergePatch.applyOnTree(b("{}"), b(big.toString()))),
                s(JsonMergePatch.apply(b("{}"), b(big.toString()))));
    }

    private static String compactPlain(String json) {
        return s(RawJson.compactPlain(b(json), json.indexOf('{'), json.lastIndexOf('}') + 1));
    }

    @Test
    void compactPlainKeepsCompactValuesAndRefusesWhatTheTreeMustDecide() {
        assertEquals(
                "{\"a\":[1,{\"b\":\"x y\"}],\"c\":{}}", compactPlain(" {\"a\" :[1 ,{ \"b\":\"x y\"}],\n\"c\":{ }} "));
        assertNull(compactPlain("{\"a\":1,\"a\":2}"));
        assertNull(compactPlain("{\"a\":{\"b\":1,\"b\":2}}"));
        assertNull(compactPlain("{\"a\\\"\":1}"));
        assertEquals("{\"a\":{\"b\":1},\"b\":{\"a\":1}}", compactPlain("{\"a\":{\"b\":1},\"b\":{\"a\":1}}"));
    }

    /** The tree writes an emoji in a name as an escaped surrogate pair; a plain patch naming it must still replace it. */
    @Test
    void aNameTheTreeEscapedIsStillTheSameName() {
        byte[] doc = JsonMergePatch.apply(null, b("{\"a\\\"b\":1,\"\ud83c\udf21\":20}")); // an escaped name: the tree
        assertEquals("{\"a\\\"b\":1,\"\\uD83C\\uDF21\":20}", s(doc));
        byte[] patch = b("{\"\ud83c\udf21\":21}");
        assertEquals(s(JsonMergePatch.applyOnTree(doc, patch)), s(JsonMergePatch.apply(doc, patch)));
        assertEquals(
                "{\"a\\\"b\":1}",
                s(JsonMergePatch.apply(JsonMergePatch.apply(doc, patch), b("{\"\ud83c\udf21\":null}"))));
    }

    /** A deep path into a large document: each level is scanned once, not once per level above it. */
    @Test
    void aDeepPatchIntoALargeDocumentMergesAsTheTreeDoes() {
        StringBuilder doc = new StringBuilder();
        StringBuilder patch = new StringBuilder();
        for (int i = 0; i < 200; i++) {
            doc.append("{\"big\":\"").append("x".repeat(100)).append("\",\"d\":");
            patch.append("{\"d\":");
        }
        doc.append("1").append("}".repeat(200));
        patch.append("2").append("}".repeat(200));
        byte[] expected = JsonMergePatch.applyOnTree(b(doc.toString()), b(patch.toString()));
        assertArrayEquals(expected, RawJson.merge(b(doc.toString()), b(patch.toString())));
    }

    @Test
    void compactKeepsWhatTheDatabaseWroteAndFallsBackToTheTree() {
        assertEquals("{\"a\":1.50,\"b\":[1,2]}", s(Json.compact(b(" {\"a\": 1.50, \"b\": [1, 2]} \n"))));
        assertEquals("{\"a\":2}", s(Json.compact(b("{\"a\": 1, \"a\": 2}"))));
        assertEquals("null", s(Json.compact(b("null"))));
    }

    /**
     * Random documents and patches (nulls, nesting, arrays, whitespace, names shared between levels;
     * no name twice in one object, as the source guarantees):
     * the byte merge writes exactly what the tree writes, member order included. Numbers are written
     * the way the tree writes them, so the two must agree byte for byte.
     */
    @Test
    void agreesWithTheTreeOnRandomDocumentsAndPatches() {
        Random random = new Random(7);
        for (int n = 0; n < 20_000; n++) {
            String compactDoc = s(Json.bytes(Json.parse(b(object(random, 3, false)))));
            String patch = object(random, 3, true);
            byte[] expected = JsonMergePatch.applyOnTree(b(compactDoc), b(patch));
            byte[] actual = RawJson.merge(b(compactDoc), b(patch));
            assertArrayEquals(
                    expected, actual, () -> compactDoc + " + " + patch + ": " + s(expected) + " vs " + s(actual));
        }
    }

    private static String object(Random r, int depth, boolean nulls) {
        StringBuilder sb = new StringBuilder("{");
        int members = r.nextInt(5);
        java.util.List<Character> names = new java.util.ArrayList<>(java.util.List.of('a', 'b', 'c', 'd'));
        java.util.Collections.shuffle(names, r);
        for (int i = 0; i < members && i < names.size(); i++) {
            if (i > 0) sb.append(r.nextBoolean() ? "," : " ,\n");
            sb.append('"').append(names.get(i)).append("\" : ");
            sb.append(value(r, depth - 1, nulls));
        }
        return sb.append(" }").toString();
    }

    private static String value(Random r, int depth, boolean nulls) {
        switch (r.nextInt(depth > 0 ? 7 : 5)) {
            case 0:
                return nulls && r.nextInt(3) == 0 ? "null" : "true";
            case 1:
                return Integer.toString(r.nextInt(2000) - 1000);
            case 2:
                return Double.toString(r.nextInt(10_000) / 100.0);
            case 3:
                return "\"s" + r.nextInt(10) + (r.nextBoolean() ? "\\\"q\\n" : "") + "\"";
            case 4:
                return nulls ? "null" : "\"v\"";
            case 5:
                return "[ " + value(r, depth - 1, nulls) + " , " + value(r, depth - 1, nulls) + "]";
            default:
                return object(r, depth, nulls);
        }
    }
}
