package io.devicesync.operators.serde;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.function.IntFunction;
import java.util.function.Supplier;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

/** Checks shared by the codecs' serializer snapshots. */
public final class CodecSnapshots {
    private CodecSnapshots() {}

    /**
     * A codec's serializer snapshot of format {@code format} (above 1): a build whose snapshot
     * reads format 1 only refuses it at the restore and names the format, and state of format 1
     * (and of this format) restores under this build's serializer as it is.
     */
    public static <T> void anEarlierBuildRefusesItAndFormat1RestoresAsItIs(
            Supplier<? extends CodecSerializer.Snapshot<T>> snapshot,
            IntFunction<? extends CodecSerializer<T>> reading,
            int format)
            throws IOException {
        CodecSerializer.Snapshot<T> now = snapshot.get();
        DataOutputSerializer out = new DataOutputSerializer(8);
        now.writeSnapshot(out);
        // The previous build's snapshot class: format 1 current.
        CodecSerializer.Snapshot<T> previous = new CodecSerializer.Snapshot<>(1, reading) {};
        IOException e = assertThrows(
                IOException.class,
                () -> previous.readSnapshot(
                        now.getCurrentVersion(),
                        new DataInputDeserializer(out.getCopyOfBuffer()),
                        CodecSnapshots.class.getClassLoader()));
        assertTrue(e.getMessage().contains("format " + format), e.getMessage());
        assertTrue(now.resolveSchemaCompatibility(snapshot.get().describing(1)).isCompatibleAsIs());
        assertTrue(now.resolveSchemaCompatibility(snapshot.get()).isCompatibleAsIs());
    }
}
