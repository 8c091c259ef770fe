package io.devicesync.operators.delivery;

/**
 * From a RedispatchScheduler subtask to the DeliveryBacklog: the number of devices with an open
 * episode or parked for {@code consumer} in one key group, as it is now (not a change: a report
 * sent twice, or after a restore, counts once). The key group is the device's: each is reported
 * by the subtask that owns it, at any parallelism.
 */
public class BacklogReport {
    public String consumer;
    public int keyGroup;
    public long count;

    public BacklogReport() {}

    public BacklogReport(String consumer, int keyGroup, long count) {
        this.consumer = consumer;
        this.keyGroup = keyGroup;
        this.count = count;
    }

    @Override
    public String toString() {
        return "BacklogReport{" + consumer + " kg" + keyGroup + "=" + count + "}";
    }
}
