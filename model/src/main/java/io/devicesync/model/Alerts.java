package io.devicesync.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Builds alerts. The alert id is a hash of what identifies the episode (type, subject, and the
 * episode's own key such as the gap's range), so a replay after failover yields the same id.
 */
public final class Alerts {
    private Alerts() {}

    public static Builder of(AlertType type, Severity severity) {
        return new Builder(type, severity);
    }

    /** Deterministic id: SHA-256 over the parts, first 128 bits in hex. */
    public static String id(String... parts) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (String p : parts) {
                md.update((p == null ? "\u0000" : p).getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0x1f);
            }
            return HexFormat.of().formatHex(md.digest(), 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static final class Builder {
        private final Alert alert = new Alert();
        private final ObjectNode details = Json.MAPPER.createObjectNode();

        private Builder(AlertType type, Severity severity) {
            alert.type = type;
            alert.severity = severity;
        }

        public Builder device(String deviceId) {
            alert.deviceId = deviceId;
            return this;
        }

        public Builder consumer(String consumer) {
            alert.consumer = consumer;
            return this;
        }

        public Builder cause(String cause) {
            alert.cause = cause;
            return this;
        }

        public Builder strategy(Strategy strategy) {
            alert.strategy = strategy;
            return this;
        }

        public Builder detail(String name, long value) {
            details.put(name, value);
            return this;
        }

        /** A version number, or JSON null when {@code value} is negative (none). */
        public Builder detailOrNull(String name, long value) {
            if (value < 0) details.putNull(name);
            else details.put(name, value);
            return this;
        }

        /** A version as two numbers, both JSON null when it is null (none, or unknown). */
        public Builder version(String epochName, String seqName, Version v) {
            if (v == null) {
                details.putNull(epochName);
                details.putNull(seqName);
            } else {
                details.put(epochName, v.epoch);
                details.put(seqName, v.seq);
            }
            return this;
        }

        public Builder detail(String name, boolean value) {
            details.put(name, value);
            return this;
        }

        public Builder detail(String name, String value) {
            details.put(name, value);
            return this;
        }

        public Builder ts(long ts) {
            alert.ts = ts;
            return this;
        }

        /** Finishes the alert; {@code episode} names what makes this episode unique for its subject. */
        public Alert build(String... episode) {
            String[] parts = new String[episode.length + 3];
            parts[0] = alert.type.name();
            parts[1] = alert.deviceId;
            parts[2] = alert.consumer;
            System.arraycopy(episode, 0, parts, 3, episode.length);
            alert.alertId = id(parts);
            alert.details = details.toString();
            if (alert.strategy == null) alert.strategy = Strategy.NONE;
            return alert;
        }
    }
}
