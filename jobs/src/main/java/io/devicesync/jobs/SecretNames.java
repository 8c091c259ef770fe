package io.devicesync.jobs;

import java.util.Locale;

/**
 * Which Kafka client properties hold secrets (passwords, JAAS configurations, tokens, keys): their
 * values are never printed or logged. Plain Java, so that the command-line tools of the shaded jar
 * use it without Flink on the class path.
 */
public final class SecretNames {
    private SecretNames() {}

    public static boolean isSecret(String property) {
        String p = property.toLowerCase(Locale.ROOT);
        return p.contains("password")
                || p.contains("jaas")
                || p.contains("secret")
                || p.contains("token")
                || p.contains("key") && !p.contains("deserializer") && !p.contains("serializer");
    }
}
