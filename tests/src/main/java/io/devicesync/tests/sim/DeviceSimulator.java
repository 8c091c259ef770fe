package io.devicesync.tests.sim;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.devicesync.model.Increment;
import io.devicesync.model.IncrementCodec;
import io.devicesync.model.Json;
import io.devicesync.model.JsonMergePatch;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Simulated devices. Each step makes the next true increment of a random device (the truth, as
 * the device platform records it in PostgreSQL) and decides what the stream makes of it: delivered,
 * duplicated, delayed a few records (reordered within the grace), lost alone or in a burst. A
 * device may reboot into a higher epoch, and a few records are malformed. Deterministic for a seed.
 */
public final class DeviceSimulator {

    /** What to simulate; every rate is a probability per increment. */
    public static final class Options {
        public int devices = 500;
        public double duplicateRate = 0.02;
        public double reorderRate = 0.02;
        public double lossRate = 0.0;
        public double burstLossRate = 0.0;
        public int burstLength = 5;
        public double rebootRate = 0.0;
        public double malformedRate = 0.005;
        public long seed = 42;
        public String prefix = "meter-";

        @Override
        public String toString() {
            return "devices=" + devices + " duplicate=" + duplicateRate + " reorder=" + reorderRate + " loss="
                    + lossRate
                    + " burst-loss=" + burstLossRate + "x" + burstLength + " reboot=" + rebootRate + " malformed="
                    + malformedRate + " seed=" + seed;
        }
    }

    /** One record on the wire: key and value as bytes (null value: a tombstone). */
    public static final class WireRecord {
        public final byte[] key;
        public final byte[] value;
        public final boolean malformed;

        public WireRecord(byte[] key, byte[] value, boolean malformed) {
            this.key = key;
            this.value = value;
            this.malformed = malformed;
        }
    }

    /** What one batch made: the truth to write to the database, and the records to publish. */
    public static final class Batch {
        public final List<Increment> truth = new ArrayList<>();
        public final List<WireRecord> wire = new ArrayList<>();
        /** Devices touched, with their latest (epoch, seq, state) after the batch. */
        public final Map<String, Device> touched = new LinkedHashMap<>();
    }

    /** A device's true current version and state. */
    public static final class Device {
        public final String id;
        public long epoch;
        public long seq;
        public ObjectNode state = Json.MAPPER.createObjectNode();
        int burstLeft;

        Device(String id) {
            this.id = id;
        }
    }

    public long delivered;
    public long duplicated;
    public long reordered;
    public long lost;
    public long reboots;
    public long malformed;
    /** Devices whose last increments were lost with nothing after them (see {@link #lostTail}). */
    public final java.util.Set<String> tailLost = new java.util.HashSet<>();
    /** Devices whose very first message (0, 1) was lost: repaired without an alert (first seen). */
    public final java.util.Set<String> firstMessageLost = new java.util.HashSet<>();

    private final Options o;
    private final SplittableRandom random;
    private final Device[] devices;
    /** Records delayed to be sent after a few more records (reordering). */
    private final List<WireRecord[]> delayed = new ArrayList<>();

    private final Map<String, Integer> lastIndex = new HashMap<>();

    public DeviceSimulator(Options options) {
        this.o = options;
        this.random = new SplittableRandom(options.seed);
        this.devices = new Device[options.devices];
        for (int i = 0; i < devices.length; i++) devices[i] = new Device(String.format("%s%05d", o.prefix, i));
    }

    /** The options it runs with: a test may change the fault rates between batches. */
    public Options options() {
        return o;
    }

    public Device[] devices() {
        return devices;
    }

    /** The next {@code n} true increments, with event time {@code ts}. */
    public Batch next(int n, long ts) {
        Batch b = new Batch();
        for (int k = 0; k < n; k++) {
            step(devices[random.nextInt(devices.length)], ts, b, true);
        }
        // Reordered records stay within their batch: a reorder, never a gap, however slow the
        // next batch is.
        flushDelayed(b);
        return b;
    }

    /** One more increment for every device, each delivered as it is (a clean tail: nothing lost). */
    public Batch cleanTail(long ts) {
        Batch b = new Batch();
        flushDelayed(b);
        for (Device d : devices) step(d, ts, b, false);
        return b;
    }

    private void step(Device d, long ts, Batch b, boolean faults) {
        if (faults && d.seq > 0 && random.nextDouble() < o.rebootRate) {
            d.epoch++;
            d.seq = 0;
            reboots++;
        }
        d.seq++;
        ObjectNode patch = randomPatch();
        d.state = (ObjectNode) JsonMergePatch.apply(d.state, patch.deepCopy());
        Increment inc = new Increment(d.id, d.epoch, d.seq, ts, Json.bytes(patch));
        b.truth.add(inc);
        b.touched.put(d.id, d);
        byte[] key = d.id.getBytes(StandardCharsets.UTF_8);
        WireRecord rec = new WireRecord(key, IncrementCodec.toJson(inc), false);

        if (!faults) {
            send(b, rec);
        } else if (d.burstLeft > 0) {
            d.burstLeft--;
            lose(d);
        } else if (random.nextDouble() < o.burstLossRate) {
            d.burstLeft = o.burstLength - 1;
            lose(d);
        } else if (random.nextDouble() < o.lossRate) {
            lose(d);
        } else if (random.nextDouble() < o.reorderRate) {
            reordered++;
            delayed.add(new WireRecord[] {rec});
        } else {
            send(b, rec);
            if (random.nextDouble() < o.duplicateRate) {
                duplicated++;
                b.wire.add(rec);
            }
        }
        if (faults && random.nextDouble() < o.malformedRate) {
            malformed++;
            b.wire.add(malformedRecord(d.id));
        }
        // Delayed records go out after a few more records: a reorder well within the grace.
        if (!delayed.isEmpty() && random.nextInt(3) == 0) flushDelayed(b);
    }

    private void lose(Device d) {
        lost++;
        if (d.epoch == 0 && d.seq == 1) firstMessageLost.add(d.id);
    }

    private void send(Batch b, WireRecord rec) {
        b.wire.add(rec);
        delivered++;
    }

    private void flushDelayed(Batch b) {
        for (WireRecord[] r : delayed) send(b, r[0]);
        delayed.clear();
    }

    /**
     * Tail loss: for about {@code fraction} of the devices, 1 to {@code maxLength} more increments
     * that the platform records but that never reach the stream. Nothing follows them, so only an
     * audit can find them. The batch has truth and no wire records.
     */
    public Batch lostTail(double fraction, int maxLength, long ts) {
        Batch b = new Batch();
        for (Device d : devices) {
            if (d.seq == 0 || random.nextDouble() >= fraction) continue;
            int n = 1 + random.nextInt(maxLength);
            for (int k = 0; k < n; k++) {
                d.seq++;
                ObjectNode patch = randomPatch();
                d.state = (ObjectNode) JsonMergePatch.apply(d.state, patch.deepCopy());
                b.truth.add(new Increment(d.id, d.epoch, d.seq, ts, Json.bytes(patch)));
                b.touched.put(d.id, d);
                lost++;
            }
            tailLost.add(d.id);
        }
        return b;
    }

    /** Sends whatever is still delayed (the end of a bounded run). */
    public Batch drain() {
        Batch b = new Batch();
        flushDelayed(b);
        return b;
    }

    private ObjectNode randomPatch() {
        ObjectNode p = Json.MAPPER.createObjectNode();
        switch (random.nextInt(5)) {
            case 0:
                p.put("temp", Math.round(random.nextDouble(-20, 40) * 10) / 10.0);
                break;
            case 1:
                if (random.nextBoolean()) p.put("door", random.nextBoolean() ? "open" : "closed");
                else p.putNull("door");
                break;
            case 2:
                p.putObject("fan").put("rpm", random.nextInt(3000));
                break;
            case 3:
                p.putObject("fan").put("on", random.nextBoolean());
                break;
            default:
                p.put("fw", "1." + random.nextInt(10) + "." + random.nextInt(100));
                p.put("temp", random.nextInt(30));
        }
        return p;
    }

    private WireRecord malformedRecord(String deviceId) {
        byte[] key = deviceId.getBytes(StandardCharsets.UTF_8);
        String id = "\"deviceId\":\"" + deviceId + "\"";
        switch (random.nextInt(8)) {
            case 0:
                return new WireRecord(key, "not json at all".getBytes(StandardCharsets.UTF_8), true);
            case 1:
                return new WireRecord(key, "[1,2,3]".getBytes(StandardCharsets.UTF_8), true);
            case 2:
                return new WireRecord(
                        key, ("{" + id + ",\"ts\":1,\"data\":{}}").getBytes(StandardCharsets.UTF_8), true);
            case 3:
                return new WireRecord(
                        key,
                        ("{" + id + ",\"seq\":\"1\",\"ts\":1,\"data\":{}}").getBytes(StandardCharsets.UTF_8),
                        true);
            case 4:
                return new WireRecord(
                        key, ("{" + id + ",\"seq\":1.5,\"ts\":1,\"data\":{}}").getBytes(StandardCharsets.UTF_8), true);
            case 5:
                return new WireRecord(
                        key, ("{" + id + ",\"seq\":1,\"ts\":1,\"data\":null}").getBytes(StandardCharsets.UTF_8), true);
            case 6:
                return new WireRecord(
                        "someone-else".getBytes(StandardCharsets.UTF_8),
                        ("{" + id + ",\"seq\":1,\"ts\":1,\"data\":{}}").getBytes(StandardCharsets.UTF_8),
                        true);
            default:
                return new WireRecord(key, null, true);
        }
    }
}
