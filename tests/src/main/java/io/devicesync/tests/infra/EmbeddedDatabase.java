package io.devicesync.tests.infra;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import javax.sql.DataSource;

/**
 * A real PostgreSQL server (the binaries come from Maven Central) with the source-of-truth tables,
 * on 127.0.0.1 and a free port, its data under a folder of the caller's. It can be stopped and
 * started again on the same port and data, to test an outage.
 */
public final class EmbeddedDatabase implements AutoCloseable {
    public static final String USER = "postgres";
    public static final String PASSWORD = "postgres";

    private final Path dataDir;
    private final int port;
    private EmbeddedPostgres pg;

    private EmbeddedDatabase(Path dataDir, int port, EmbeddedPostgres pg) {
        this.dataDir = dataDir;
        this.port = port;
        this.pg = pg;
    }

    /** Starts a new server; {@code dataDir} must not exist yet (it is initialized). */
    public static EmbeddedDatabase start(Path dataDir) throws IOException, SQLException {
        if (java.nio.file.Files.exists(dataDir.resolve("PG_VERSION"))) {
            throw new IllegalArgumentException(dataDir + " already holds a database");
        }
        EmbeddedPostgres pg = EmbeddedPostgres.builder()
                .setDataDirectory(dataDir)
                // Kept on close, so that stop() and restart() keep the data; the caller owns the folder.
                .setCleanDataDirectory(false)
                .setServerConfig("listen_addresses", "127.0.0.1")
                .setServerConfig("max_connections", "100")
                .setServerConfig("fsync", "off")
                .setServerConfig("synchronous_commit", "off")
                .start();
        EmbeddedDatabase db = new EmbeddedDatabase(dataDir, pg.getPort(), pg);
        db.createSchema();
        return db;
    }

    private void createSchema() throws IOException, SQLException {
        String sql;
        try (InputStream in = EmbeddedDatabase.class.getResourceAsStream("/schema.sql")) {
            sql = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        try (Connection c = dataSource().getConnection();
                Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    /** A URL as {@code --snapshot.url} takes it. */
    public String url() {
        return "postgresql://127.0.0.1:" + port + "/postgres";
    }

    public DataSource dataSource() {
        return pg.getPostgresDatabase();
    }

    /** Stops the server, keeping its data (an outage). */
    public synchronized void stop() throws IOException {
        if (pg != null) {
            pg.close();
            pg = null;
        }
    }

    /** Starts the server again on the same port and data. */
    public synchronized void restart() throws IOException {
        if (pg == null) {
            pg = EmbeddedPostgres.builder()
                    .setDataDirectory(dataDir)
                    .setCleanDataDirectory(false)
                    .setPort(port)
                    .setServerConfig("listen_addresses", "127.0.0.1")
                    .setServerConfig("max_connections", "100")
                    .setServerConfig("fsync", "off")
                    .start();
        }
    }

    /**
     * Freezes the server without closing anything (SIGSTOP to the postmaster and its backends):
     * connections stay open and queries get no answer, as with a database that hangs.
     */
    public synchronized void pause() throws IOException, InterruptedException {
        signal("STOP");
    }

    /** Lets a paused server run again (SIGCONT). */
    public synchronized void resume() throws IOException, InterruptedException {
        signal("CONT");
    }

    private void signal(String sig) throws IOException, InterruptedException {
        long postmaster = Long.parseLong(java.nio.file.Files.readAllLines(dataDir.resolve("postmaster.pid"))
                .get(0)
                .trim());
        ProcessHandle pm = ProcessHandle.of(postmaster)
                .orElseThrow(() -> new IllegalStateException("no postmaster with pid " + postmaster));
        java.util.List<String> cmd =
                new java.util.ArrayList<>(java.util.List.of("kill", "-" + sig, Long.toString(postmaster)));
        pm.descendants().forEach(p -> cmd.add(Long.toString(p.pid())));
        Process kill = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        // A backend that exited between listing and signalling is no error worth failing a test for.
        if (kill.waitFor() != 0 && !out.contains("No such process")) throw new IOException("kill -" + sig + ": " + out);
    }

    @Override
    public void close() throws IOException {
        stop();
    }
}
