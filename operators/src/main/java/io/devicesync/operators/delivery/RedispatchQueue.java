package io.devicesync.operators.delivery;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * One consumer's episodes, in priority order: the queue of attempts waiting for the budget, longest
 * waiting first (earliest first-unacknowledged publication), then smallest record, then deviceId;
 * and the oldest unacknowledged publication of all its episodes (for the age gauge). An index
 * rebuilt from keyed state whenever the operator starts: the order never depends on the state
 * backend's iteration order.
 */
final class RedispatchQueue {
    private record Key(long waitingSince, int bytes, String deviceId) implements Comparable<Key> {
        @Override
        public int compareTo(Key o) {
            int c = Long.compare(waitingSince, o.waitingSince);
            if (c != 0) return c;
            c = Integer.compare(bytes, o.bytes);
            return c != 0 ? c : deviceId.compareTo(o.deviceId);
        }
    }

    private final TreeSet<Key> queue = new TreeSet<>();
    private final Map<String, Key> queued = new HashMap<>();
    private final TreeSet<Key> all = new TreeSet<>();
    private final Map<String, Key> tracked = new HashMap<>();

    /** Tracks (or re-tracks) an episode; queued or not. */
    void put(String deviceId, EpisodeEntry e) {
        remove(deviceId);
        Key k = new Key(e.waitingSince, e.bytes, deviceId);
        tracked.put(deviceId, k);
        all.add(k);
        if (e.queued) {
            queued.put(deviceId, k);
            queue.add(k);
        }
    }

    void remove(String deviceId) {
        Key k = tracked.remove(deviceId);
        if (k != null) all.remove(k);
        k = queued.remove(deviceId);
        if (k != null) queue.remove(k);
    }

    /** Takes the first queued device out of the queue (it stays tracked); null when none. */
    String pollQueued() {
        Key k = queue.pollFirst();
        if (k == null) return null;
        queued.remove(k.deviceId());
        return k.deviceId();
    }

    int queuedCount() {
        return queue.size();
    }

    /** Publication time of the oldest unacknowledged version; MAX_VALUE when none. */
    long oldestWaitingSince() {
        return all.isEmpty() ? Long.MAX_VALUE : all.first().waitingSince();
    }
}
