package io.devicesync.model;

/** The resolution the job matched to an anomaly. */
public enum Strategy {
    /** Replay the missing increments from {@code device_increment}. */
    FETCH_INCREMENTS,
    /** Take the device's full snapshot from {@code device_snapshot}. */
    FETCH_SNAPSHOT,
    /** Written to the dead-letter topic; nothing else to do. */
    DEAD_LETTER,
    /** Retried by the next audit of the device. */
    RETRY_ON_AUDIT,
    /** Send the device's latest state again to the consumer that did not acknowledge it. */
    REDISPATCH,
    /** Nothing left to do: the episode is over. */
    NONE
}
