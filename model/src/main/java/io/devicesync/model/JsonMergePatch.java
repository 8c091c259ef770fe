package io.devicesync.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Iterator;
import java.util.Map;

/**
 * JSON Merge Patch, RFC 7386 section 2, on Jackson trees: a member set to null is removed, objects
 * merge recursively, any other value replaces the target.
 *
 * <p>Written here rather than taken from a library: the algorithm is ten lines of the RFC, the job
 * already holds Jackson trees, and the JSON-P implementations would add a second JSON model to
 * convert to and from on the hot path. The RFC's appendix examples are its test.
 */
public final class JsonMergePatch {
    private JsonMergePatch() {}

    /**
     * Applies {@code patch} to {@code target} and returns the result. {@code target} may be modified
     * in place (and is returned) when it is an object; pass a copy if the original must survive.
     */
    public static JsonNode apply(JsonNode target, JsonNode patch) {
        if (patch == null || !patch.isObject()) {
            return patch == null ? JsonNodeFactory.instance.nullNode() : patch;
        }
        ObjectNode result =
                target != null && target.isObject() ? (ObjectNode) target : JsonNodeFactory.instance.objectNode();
        Iterator<Map.Entry<String, JsonNode>> it = patch.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> member = it.next();
            JsonNode value = member.getValue();
            if (value.isNull()) {
                result.remove(member.getKey());
            } else {
                result.set(member.getKey(), apply(result.get(member.getKey()), value));
            }
        }
        return result;
    }

    /**
     * Applies a patch given as JSON bytes to a document given as JSON bytes (null: none), both
     * already validated; returns compact bytes. Works on the bytes (strings and numbers are kept as
     * written); only an object with an escaped member name (in the patch or the document), or a
     * patch object with more than 256 members, goes through Jackson's tree (which writes numbers and
     * strings its own way). A name repeated in the patch keeps its first place and its last value.
     */
    public static byte[] apply(byte[] document, byte[] patch) {
        byte[] merged = RawJson.merge(document, patch);
        return merged != null ? merged : applyOnTree(document, patch);
    }

    /** {@link #apply(byte[], byte[])} on Jackson's tree: the fallback, and the reference in tests. */
    static byte[] applyOnTree(byte[] document, byte[] patch) {
        JsonNode doc = document == null ? JsonNodeFactory.instance.objectNode() : Json.parse(document);
        return Json.bytes(apply(doc, Json.parse(patch)));
    }
}
