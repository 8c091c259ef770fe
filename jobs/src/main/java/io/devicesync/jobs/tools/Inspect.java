package io.devicesync.jobs.tools;

import java.time.Duration;

/**
 * {@code java -cp "devicesync-jobs-…-job.jar:$FLINK_HOME/lib/*" io.devicesync.jobs.tools.Inspect --savepoint <path> [--device <id>]}:
 * what the job's keyed operators hold, read from a savepoint or a retained checkpoint with Flink's
 * State Processor API ({@link StateInspector}), printed as JSON on stdout (logs on stderr).
 *
 * <p>This class touches no Flink class until the arguments are checked: {@code --help} and bad
 * arguments work with the job jar alone.
 */
public final class Inspect {
    private Inspect() {}

    /** The job's default {@code --state.idle-ttl} (JobParameters): the TTL its state was written with. */
    public static final Duration DEFAULT_IDLE_TTL = Duration.ofDays(30);

    static final String USAGE = String.join(
            "\n",
            "Usage: java -cp \"devicesync-jobs-<version>-job.jar:$FLINK_HOME/lib/*\" io.devicesync.jobs.tools.Inspect \\",
            "           --savepoint <path> [--device <deviceId>] [--backend rocksdb|hashmap] [--state.idle-ttl <duration>]",
            "",
            "Reads a savepoint or a retained checkpoint of the devicesync job (Flink's State Processor API, a",
            "local bounded read; the job itself is not touched) and prints JSON on stdout, logs on stderr.",
            "",
            "  --savepoint <path>       the savepoint or checkpoint directory (or its _metadata file); any",
            "                           file system Flink reads (file://, s3://, hdfs://, a plain path)",
            "  --device <deviceId>      what each keyed operator holds for that device: DeviceSync's guard",
            "                           (version, held increments, timers) and reconciler (published version,",
            "                           document, held increments), or in a savepoint of an earlier build the",
            "                           SequenceGuard's and the StateReconciler's; the DeliveryTracker's consumer",
            "                           positions and timer (when delivery is on). Without it: per operator,",
            "                           the number of devices and a histogram of their state's size in bytes",
            "  --backend rocksdb|hashmap  the state backend to restore with (default rocksdb). A canonical",
            "                           savepoint reads with either; a checkpoint needs the backend that wrote",
            "                           it (the job runs RocksDB)",
            "  --state.idle-ttl <d>     the job's --state.idle-ttl (default 30 d): state not written for",
            "                           longer (wall clock) reads as expired, as the job would see it",
            "  --help                   this text",
            "",
            "An operator whose uid is not in the savepoint (the DeliveryTracker when delivery is off) is",
            "reported with \"inSavepoint\": false. Exit status: 0 read, 2 bad arguments, 1 failed.",
            "");

    /** The checked arguments. */
    public static final class Options {
        public String savepoint;
        /** Null: the whole fleet's counts and sizes. */
        public String device;

        public String backend = "rocksdb";
        public Duration idleTtl = DEFAULT_IDLE_TTL;

        public Options() {}

        public Options(String savepoint, String device) {
            this.savepoint = savepoint;
            this.device = device;
        }
    }

    /**
     * The options, or null for {@code --help}; a bad argument is an IllegalArgumentException whose
     * message starts with the argument's name.
     */
    static Options parse(String[] args) {
        Options o = new Options();
        for (String a : args) {
            if (a.equals("--help") || a.equals("-h")) return null;
        }
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
                case "--device":
                    if (v.isEmpty() || v.length() > 128) {
                        throw new IllegalArgumentException(
                                "--device: a deviceId is 1 to 128 characters, got " + v.length());
                    }
                    o.device = v;
                    break;
                case "--backend":
                    if (!v.equals("rocksdb") && !v.equals("hashmap")) {
                        throw new IllegalArgumentException("--backend: '" + v + "' is neither rocksdb nor hashmap");
                    }
                    o.backend = v;
                    break;
                case "--state.idle-ttl":
                    o.idleTtl = duration(name, v);
                    break;
                default:
                    throw new IllegalArgumentException(name + ": unknown option (--help lists them)");
            }
        }
        if (o.savepoint == null)
            throw new IllegalArgumentException("--savepoint: missing (the savepoint or checkpoint to read)");
        return o;
    }

    /** A duration in Flink's syntax ({@code 30 d}, {@code 12 h}), at least a millisecond, as the job takes it. */
    static Duration duration(String name, String v) {
        Duration d;
        try {
            d = org.apache.flink.util.TimeUtils.parseDuration(v);
        } catch (NoClassDefFoundError e) {
            throw new IllegalArgumentException(name + ": cannot be read without Flink's classes on the class path");
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(name + ": '" + v + "' is invalid: " + e.getMessage());
        }
        if (d.toMillis() < 1) throw new IllegalArgumentException(name + ": must be at least 1 ms");
        return d;
    }

    public static void main(String[] args) {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("inspect: " + e.getMessage());
            System.exit(2);
            return;
        }
        if (o == null) {
            System.out.print(USAGE);
            return;
        }
        try {
            Class.forName("org.apache.flink.streaming.api.environment.StreamExecutionEnvironment");
        } catch (ClassNotFoundException e) {
            System.err.println(
                    "inspect: Flink's classes are not on the class path: add $FLINK_HOME/lib/* to -cp (see --help)");
            System.exit(2);
            return;
        }
        // Quiet: Flink's local run logs warnings and errors only, on stderr; stdout is the JSON.
        if (System.getProperty("log4j2.configurationFile") == null
                && System.getProperty("log4j.configurationFile") == null) {
            System.setProperty("log4j2.configurationFile", "devicesync-inspect-log4j2.properties");
        }
        int status;
        try {
            System.out.println(StateInspector.inspect(o));
            status = 0;
        } catch (IllegalArgumentException e) {
            System.err.println("inspect: " + e.getMessage());
            status = 2;
        } catch (Exception e) {
            System.err.println("inspect: failed to read " + o.savepoint + ": " + e);
            e.printStackTrace(System.err);
            status = 1;
        }
        System.out.flush();
        System.exit(status);
    }
}
