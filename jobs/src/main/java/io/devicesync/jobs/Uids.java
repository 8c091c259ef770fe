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
    /** The guard and the reconciler in one keyed step, with its lookups (this build on). */
    public static final String DEVICE_SYNC = "device-sync";

    public static final String SINK_STATE = "sink-device-state";
    public static final String SINK_ALERTS = "sink-device-alerts";
    public static final String ALERT_ROUTING = "alert-routing";
    public static final String ALERT_POLICY = "alert-policy";

    public static final String SINK_DLQ = "sink-device-events-dlq";
    public static final String SOURCE_AUDIT_FEEDBACK = "source-device-audit-feedback";
    /** The bootstrap from device_snapshot ({@code --bootstrap.from-database}); its position is its state. */
    public static final String SOURCE_BOOTSTRAP = "source-bootstrap-device-snapshot";

    public static final String SINK_AUDIT = "sink-device-audit";
    public static final String SOURCE_ACKS = "source-device-acks";
    public static final String ACK_ROUTER = "ack-router";
    public static final String ACK_COALESCER = "ack-coalescer";
    public static final String DELIVERY_TRACKER = "delivery-tracker";
    /**
     * The step keyed by consumer: the scheduler of earlier builds, the DeliveryBacklog since the
     * scheduler is keyed by device (it takes over the earlier one's BACKLOG state: README, Upgrading).
     */
    public static final String REDISPATCH_SCHEDULER = "redispatch-scheduler";
    /** The redispatch scheduler keyed by device, chained to the tracker. */
    public static final String REDISPATCH_SCHEDULER_BY_DEVICE = "redispatch-scheduler-by-device";

    public static final String SINK_REDISPATCH = "sink-device-redispatch";
    public static final String SINK_REDISPATCH_DLQ = "sink-device-redispatch-dlq";
}
