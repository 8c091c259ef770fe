package io.devicesync.tests.infra;

import io.devicesync.model.Json;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.Map;
import javax.sql.DataSource;

/** The source of truth's current version and state of every device, read from device_snapshot. */
public final class Truth {
    private Truth() {}

    /** A device's version and state; the state as a canonical JSON string for comparison. */
    public record Version(long epoch, long seq, String state) {}

    public static Map<String, Version> read(DataSource db) throws SQLException {
        Map<String, Version> out = new HashMap<>();
        try (Connection c = db.getConnection();
                Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT device_id, epoch, seq, state::text FROM device_snapshot")) {
            while (rs.next()) {
                out.put(rs.getString(1), new Version(rs.getLong(2), rs.getLong(3), canonical(rs.getString(4))));
            }
        }
        return out;
    }

    /** JSON with object members sorted, so that two equal documents compare equal as text. */
    public static String canonical(String json) {
        return canonical(json.getBytes(StandardCharsets.UTF_8));
    }

    public static String canonical(byte[] json) {
        try {
            Object tree = Json.MAPPER.readValue(json, Object.class);
            return Json.MAPPER
                    .copy()
                    .configure(com.fasterxml.jackson.databind.SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true)
                    .writeValueAsString(tree);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException(e);
        }
    }
}
