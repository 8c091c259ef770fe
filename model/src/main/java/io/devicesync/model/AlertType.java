package io.devicesync.model;

/** Alert types of the contract. */
public enum AlertType {
    INVALID_INPUT,
    SEQUENCE_GAP,
    DEVICE_RESET,
    RESYNC_FAILED,
    RESYNC_RESOLVED,
    TAIL_LOSS,
    BUFFER_OVERFLOW,
    UNCONSUMED,
    REDISPATCH_EXHAUSTED,
    BACKLOG,
    BACKLOG_CLEARED
}
