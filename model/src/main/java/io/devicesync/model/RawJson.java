package io.devicesync.model;

import java.util.Arrays;

/**
 * JSON as bytes, for the hot path: compacting, checking and merging values the job has already
 * validated (with Jackson, at the source or when reading the database) without building a tree.
 * Strings and numbers are copied byte for byte; only whitespace between tokens is left out.
 *
 * <p>Every method expects valid JSON and does not validate it again. Where a value is outside what
 * the byte-level code handles (a member name with an escape, a name twice in one object, an object
 * with more than {@link #MAX_MEMBERS} members), it returns null and the caller uses the Jackson tree.
 */
final class RawJson {
    private RawJson() {}

    /** Objects with more members go through the tree: names are compared pairwise here. */
    static final int MAX_MEMBERS = 256;

    /** A growable byte array. */
    static final class Out {
        byte[] b;
        int n;

        Out(int capacity) {
            b = new byte[Math.max(16, capacity)];
        }

        void put(byte c) {
            if (n == b.length) b = Arrays.copyOf(b, b.length * 2);
            b[n++] = c;
        }

        /** Room for {@code len} more bytes at {@code b[n]}. */
        void reserve(int len) {
            if (n + len > b.length) b = Arrays.copyOf(b, Math.max(b.length * 2, n + len));
        }

        void put(byte[] src, int from, int to) {
            int len = to - from;
            if (n + len > b.length) b = Arrays.copyOf(b, Math.max(b.length * 2, n + len));
            System.arraycopy(src, from, b, n, len);
            n += len;
        }

        byte[] toArray() {
            return n == b.length ? b : Arrays.copyOf(b, n);
        }
    }

    static boolean isWs(byte c) {
        return c == ' ' || c == '\n' || c == '\r' || c == '\t';
    }

    static int skipWs(byte[] b, int i, int end) {
        while (i < end && isWs(b[i])) i++;
        return i;
    }

    /** The index just past the string starting with the quote at {@code i}. */
    static int stringEnd(byte[] b, int i, int end) {
        i++;
        while (i < end) {
            byte c = b[i];
            if (c == '"') return i + 1;
            i += c == '\\' ? 2 : 1;
        }
        throw new IllegalArgumentException("unterminated string");
    }

    /** The index just past the value starting at {@code i} (not whitespace). */
    static int valueEnd(byte[] b, int i, int end) {
        byte c = b[i];
        if (c == '"') return stringEnd(b, i, end);
        if (c == '{' || c == '[') {
            int depth = 0;
            while (i < end) {
                c = b[i];
                if (c == '"') {
                    i = stringEnd(b, i, end);
                    continue;
                }
                if (c == '{' || c == '[') {
                    depth++;
                } else if ((c == '}' || c == ']') && --depth == 0) {
                    return i + 1;
                }
                i++;
            }
            throw new IllegalArgumentException("unterminated " + (char) b[i - 1]);
        }
        while (i < end) {
            c = b[i];
            if (c == ',' || c == '}' || c == ']' || isWs(c)) break;
            i++;
        }
        return i;
    }

    /** Copies the value in {@code [from, to)} without the whitespace between its tokens. */
    static void copyCompact(byte[] b, int from, int to, Out out) {
        int run = from;
        int i = from;
        while (i < to) {
            byte c = b[i];
            if (c == '"') {
                i = stringEnd(b, i, to);
            } else if (isWs(c)) {
                out.put(b, run, i);
                i = skipWs(b, i, to);
                run = i;
            } else {
                i++;
            }
        }
        out.put(b, run, to);
    }

    /**
     * The value in {@code [from, to)} as compact bytes, or null if it has a member name with an
     * escape, a name twice in one object, or an object with more than {@link #MAX_MEMBERS} members.
     */
    static byte[] compactPlain(byte[] b, int from, int to) {
        Out out = new Out(to - from);
        copyCompact(b, from, to, out);
        byte[] compact = out.toArray();
        return plainValueEnd(compact, 0, new int[8]) == compact.length ? compact : null;
    }

    /** The end of the compact value at {@code i} if it is plain (see {@link #compactPlain}), else -1. */
    private static int plainValueEnd(byte[] b, int i, int[] scratch) {
        byte c = b[i];
        if (c == '[') {
            i++;
            if (b[i] == ']') return i + 1;
            while (true) {
                i = plainValueEnd(b, i, scratch);
                if (i < 0) return -1;
                if (b[i] == ']') return i + 1;
                i++; // ','
            }
        }
        if (c != '{') return valueEnd(b, i, b.length);
        i++;
        if (b[i] == '}') return i + 1;
        // (nameStart, nameEnd) pairs of this object, to find a name given twice
        int[] names = new int[16];
        int count = 0;
        while (true) {
            int nameEnd = stringEnd(b, i, b.length);
            if (escaped(b, i, nameEnd)) return -1;
            for (int m = 0; m < count; m++) {
                if (Arrays.equals(b, names[2 * m], names[2 * m + 1], b, i, nameEnd)) return -1;
            }
            if (count == MAX_MEMBERS) return -1;
            if (2 * count + 2 > names.length) names = Arrays.copyOf(names, names.length * 2);
            names[2 * count] = i;
            names[2 * count + 1] = nameEnd;
            count++;
            i = plainValueEnd(b, nameEnd + 1, scratch);
            if (i < 0) return -1;
            if (b[i] == '}') return i + 1;
            i++; // ','
        }
    }

    /**
     * RFC 7386 merge of {@code patch} into {@code document} (null: none), as compact bytes; null if an
     * object it merges has an escaped name or the patch has one with too many members. Both must be plain below
     * their top level (no name twice in one object): what the source and the database reader make. The members of the document keep their
     * order; new members follow in the patch's order (as Jackson's ObjectNode orders them).
     */
    static byte[] merge(byte[] document, byte[] patch) {
        Out out = new Out((document == null ? 0 : document.length) + patch.length + 8);
        int d = document == null ? -1 : skipWs(document, 0, document.length);
        int p = skipWs(patch, 0, patch.length);
        return mergeValue(document, d, patch, p, out) == TREE ? null : out.toArray();
    }

    /** What {@link #mergeValue} returns when the tree must decide. */
    private static final int TREE = Integer.MIN_VALUE;

    /**
     * Writes the merge of the patch value at {@code p} into the document value at {@code d} (-1:
     * none). Returns the end of the document value when it went through it (an object merged into
     * an object: its caller need not scan it again), -1 when it did not, {@link #TREE} when the
     * tree must decide.
     */
    private static int mergeValue(byte[] doc, int d, byte[] patch, int p, Out out) {
        if (patch[p] != '{') {
            copyCompact(patch, p, valueEnd(patch, p, patch.length), out);
            return -1;
        }
        // The patch's members: nameStart, nameEnd, valueStart per member.
        int[] m = new int[24];
        int count = 0;
        int i = skipWs(patch, p + 1, patch.length);
        while (patch[i] != '}') {
            int nameEnd = stringEnd(patch, i, patch.length);
            if (escaped(patch, i, nameEnd)) return TREE;
            if (count == MAX_MEMBERS) return TREE;
            if (3 * count + 3 > m.length) m = Arrays.copyOf(m, m.length * 2);
            int v = skipWs(patch, skipWs(patch, nameEnd, patch.length) + 1, patch.length);
            m[3 * count] = i;
            m[3 * count + 1] = nameEnd;
            m[3 * count + 2] = v;
            count++;
            i = skipWs(patch, valueEnd(patch, v, patch.length), patch.length);
            if (patch[i] == ',') i = skipWs(patch, i + 1, patch.length);
        }
        // A name given twice: as in Jackson's tree, it keeps the place of its first occurrence and
        // the value of its last; the later occurrences are done.
        boolean[] done = new boolean[count];
        for (int a = 0; a < count; a++) {
            if (done[a]) continue;
            for (int b = a + 1; b < count; b++) {
                if (!done[b] && sameName(patch, m, a, patch, m[3 * b], m[3 * b + 1])) {
                    done[b] = true;
                    m[3 * a + 2] = m[3 * b + 2];
                }
            }
        }
        out.put((byte) '{');
        boolean first = true;
        int docEnd = -1;
        if (d >= 0 && doc[d] == '{') {
            int j = skipWs(doc, d + 1, doc.length);
            while (doc[j] != '}') {
                int nameEnd = stringEnd(doc, j, doc.length);
                // A name with an escape (the tree writes some characters so, e.g. an emoji as a
                // surrogate pair) may be a patch's unescaped name: only the tree can tell.
                if (escaped(doc, j, nameEnd)) return TREE;
                int v = skipWs(doc, skipWs(doc, nameEnd, doc.length) + 1, doc.length);
                int k = -1;
                for (int a = 0; a < count; a++) {
                    if (!done[a] && sameName(patch, m, a, doc, j, nameEnd)) {
                        k = a;
                        break;
                    }
                }
                int vEnd = -1;
                if (k < 0) {
                    first = member(out, first, doc, j, nameEnd);
                    vEnd = valueEnd(doc, v, doc.length);
                    copyCompact(doc, v, vEnd, out);
                } else {
                    done[k] = true;
                    int pv = m[3 * k + 2];
                    if (patch[pv] != 'n') { // a null removes the member
                        first = member(out, first, doc, j, nameEnd);
                        vEnd = mergeValue(doc, v, patch, pv, out);
                        if (vEnd == TREE) return TREE;
                    }
                }
                if (vEnd < 0) vEnd = valueEnd(doc, v, doc.length);
                j = skipWs(doc, vEnd, doc.length);
                if (doc[j] == ',') j = skipWs(doc, j + 1, doc.length);
            }
            docEnd = j + 1;
        }
        for (int a = 0; a < count; a++) {
            int pv = m[3 * a + 2];
            if (done[a] || patch[pv] == 'n') continue;
            first = member(out, first, patch, m[3 * a], m[3 * a + 1]);
            if (mergeValue(null, -1, patch, pv, out) == TREE) return TREE;
        }
        out.put((byte) '}');
        return docEnd;
    }

    /** Whether the name in {@code [from, to)} (quotes included) has an escape. */
    private static boolean escaped(byte[] b, int from, int to) {
        for (int k = from + 1; k < to - 1; k++) {
            if (b[k] == '\\') return true;
        }
        return false;
    }

    private static boolean sameName(byte[] patch, int[] m, int a, byte[] other, int from, int to) {
        int start = m[3 * a];
        int end = m[3 * a + 1];
        // names are mostly short and differ early: length and the first letter decide most pairs
        return end - start == to - from
                && (to - from < 3 || patch[start + 1] == other[from + 1])
                && Arrays.equals(patch, start, end, other, from, to);
    }

    /** Writes {@code ,"name":} (no comma before the first member); returns false (no longer first). */
    private static boolean member(Out out, boolean first, byte[] b, int nameStart, int nameEnd) {
        if (!first) out.put((byte) ',');
        out.put(b, nameStart, nameEnd);
        out.put((byte) ':');
        return false;
    }
}
