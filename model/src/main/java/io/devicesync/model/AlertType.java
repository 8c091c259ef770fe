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
    BACKLOG_CLEARED,
    /** A lookup circuit breaker opened somewhere in the job (one per outage; the AlertPolicy's). */
    DATABASE_UNAVAILABLE,
    /** Every lookup circuit breaker is closed again; {@code details.suppressed}: the RESYNC_FAILED not published meanwhile. */
    DATABASE_RECOVERED,
    /** Alerts of one type (and consumer) folded into one record per minute by the AlertPolicy. */
    ALERT_SUMMARY
}
