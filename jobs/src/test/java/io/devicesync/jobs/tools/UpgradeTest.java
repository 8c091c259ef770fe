package io.devicesync.jobs.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The Upgrade command's arguments: each bad one named, before any Flink class is touched. */
class UpgradeTest {
    @Test
    void theArgumentsAreCheckedAndEachBadOneIsNamed() {
        Upgrade.Options o = Upgrade.parse(new String[] {
            "--savepoint", "s3://b/old", "--to", "s3://b/new", "--backend", "hashmap", "--state.idle-ttl", "7 d"
        });
        assertEquals("s3://b/old", o.savepoint);
        assertEquals("s3://b/new", o.to);
        assertEquals("hashmap", o.backend);
        assertEquals(Duration.ofDays(7), o.idleTtl);
        assertNull(Upgrade.parse(new String[] {"--help"}));
        for (String[] bad : new String[][] {
            {"--savepoint", "x"},
            {"--to", "y"},
            {"--savepoint", "x", "--to", "y", "--backend", "memory"},
            {"--savepoint", "x", "--to", "y", "--state.idle-ttl", "soon"},
            {"--savepoint", "x", "--to", "y", "--device", "d"},
            {"--savepoint"}
        }) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Upgrade.parse(bad));
            assertTrue(e.getMessage().startsWith("--"), e.getMessage());
        }
    }
}
