package io.devicesync.jobs;

/**
 * The stable operator ids. State in savepoints is matched to operators by these: never rename one
 * that has shipped; add new ones instead.
 */
public final class Uids {
    private Uids() {}

    public static final String SOURCE_EVENTS = "source-device-events";
    public static final String INPUT_ROUTER = "input-router";
    public static final String INVALID_INPUT_ALERTS = "invalid-input-alerts";
    public static final String SEQUENCE_GUARD = "sequence-guard";
    public static final String SNAPSHOT_LOOKUP = "snapshot-lookup";
    public static final String STATE_RECONCILER = "state-reconciler";
    public static final String SINK_STATE = "sink-device-state";
    public static final String SINK_ALERTS = "sink-device-alerts";
    public static final String SINK_DLQ = "sink-device-events-dlq";
    public static final String SOURCE_AUDIT_FEEDBACK = "source-device-audit-feedback";
    public static final String SINK_AUDIT = "sink-device-audit";
}
