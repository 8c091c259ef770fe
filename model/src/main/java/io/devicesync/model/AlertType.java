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
    /** A device's state document grew past {@code --state.max-document-bytes}: not published until it fits. */
    STATE_TOO_LARGE,
    UNCONSUMED,
    REDISPATCH_EXHAUSTED,
    BACKLOG,
    BACKLOG_CLEARED
}
