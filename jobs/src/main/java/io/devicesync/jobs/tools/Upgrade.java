package io.devicesync.jobs.tools;

import java.time.Duration;

/**
 * {@code java -cp "devicesync-jobs-…-job.jar:$FLINK_HOME/lib/*" io.devicesync.jobs.tools.Upgrade --savepoint <old> --to <new>}:
 * rewrites a savepoint of the builds before DeviceSync into one this build restores ({@link
 * StateUpgrade}). This class touches no Flink class until the arguments are checked.
 */
public final class Upgrade {
    private Upgrade() {}

    static final String USAGE = String.join(
            "\n",
            "Usage: java -cp \"devicesync-jobs-<version>-job.jar:$FLINK_HOME/lib/*\" io.devicesync.jobs.tools.Upgrade \\",
            "           --savepoint <path> --to <path> [--backend rocksdb|hashmap] [--state.idle-ttl <duration>]",
            "",
            "Rewrites a savepoint of a devicesync build before DeviceSync (the SequenceGuard and the",
            "StateReconciler) into one this build restores: each device's guard and reconciler state becomes",
            "DeviceSync's, timers and held increments included; every other operator's state is copied.",
            "",
            "  --savepoint <path>       the earlier build's savepoint (stop the job with a savepoint first)",
            "  --to <path>              where to write the new savepoint (must not exist); start the job from it",
            "  --backend rocksdb|hashmap  the state backend to read and write with (default rocksdb)",
            "  --state.idle-ttl <d>     the job's --state.idle-ttl (default 30 d)",
            "  --help                   this text",
            "",
            "Exit status: 0 written, 2 bad arguments, 1 failed.",
            "");

    /** The checked arguments. */
    static final class Options {
        String savepoint;
        String to;
        String backend = "rocksdb";
        Duration idleTtl = Inspect.DEFAULT_IDLE_TTL;
    }

    /** The options, or null for {@code --help}; a bad argument is an IllegalArgumentException naming it. */
    static Options parse(String[] args) {
        Options o = new Options();
        for (String a : args) if (a.equals("--help") || a.equals("-h")) return null;
        for (int i = 0; i < args.length; i++) {
            String name = args[i];
            if (!name.startsWith("--"))
                throw new IllegalArgumentException(name + ": not an option (options start with --)");
            if (i + 1 >= args.length) throw new IllegalArgumentException(name + ": needs a value");
            String v = args[++i];
            switch (name) {
                case "--savepoint":
                    if (v.isBlank()) throw new IllegalArgumentException("--savepoint: must not be empty");
                    o.savepoint = v;
                    break;
                case "--to":
                    if (v.isBlank()) throw new IllegalArgumentException("--to: must not be empty");
                    o.to = v;
                    break;
                case "--backend":
                    if (!v.equals("rocksdb") && !v.equals("hashmap"))
                        throw new IllegalArgumentException("--backend: rocksdb or hashmap, not " + v);
                    o.backend = v;
                    break;
                case "--state.idle-ttl":
                    o.idleTtl = Inspect.duration(name, v);
                    break;
                default:
                    throw new IllegalArgumentException(name + ": unknown option (see --help)");
            }
        }
        if (o.savepoint == null) throw new IllegalArgumentException("--savepoint: required");
        if (o.to == null) throw new IllegalArgumentException("--to: required");
        return o;
    }

    public static void main(String[] args) {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("upgrade: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        if (o == null) {
            System.out.println(USAGE);
            return;
        }
        try {
            Class.forName("org.apache.flink.streaming.api.environment.StreamExecutionEnvironment");
        } catch (ClassNotFoundException e) {
            System.err.println(
                    "upgrade: Flink's classes are not on the class path: add $FLINK_HOME/lib/* to -cp (see --help)");
            System.exit(2);
            return;
        }
        int status;
        try {
            StateUpgrade.upgrade(o.savepoint, o.to, o.backend, o.idleTtl);
            System.err.println("upgrade: written " + o.to + " (start the job from it)");
            status = 0;
        } catch (IllegalArgumentException e) {
            System.err.println("upgrade: " + e.getMessage());
            status = 2;
        } catch (Exception e) {
            org.slf4j.LoggerFactory.getLogger(Upgrade.class)
                    .error(
                            "Upgrade of savepoint {} to {} failed; delete what it may have written there before trying again",
                            o.savepoint,
                            o.to,
                            e);
            System.err.println("upgrade: failed to rewrite " + o.savepoint + " into " + o.to + ": " + e);
            status = 1;
        }
        System.exit(status);
    }
}
