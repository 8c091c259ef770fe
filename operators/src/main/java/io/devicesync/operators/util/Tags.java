package io.devicesync.operators.util;

import io.devicesync.model.Alert;
import io.devicesync.model.DeadLetter;
import io.devicesync.model.LookupRequest;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.util.OutputTag;

/** The side outputs of the job, created once. */
public final class Tags {
    private Tags() {}

    /** Records the contract rejects, on their way to the dead-letter topic. */
    public static final OutputTag<DeadLetter> DEAD_LETTERS =
            new OutputTag<>("dead-letters", TypeInformation.of(DeadLetter.class));

    /** Gaps, first-seen devices and resets: requests for the source of truth. */
    public static final OutputTag<LookupRequest> LOOKUPS =
            new OutputTag<>("lookup-requests", TypeInformation.of(LookupRequest.class));

    /** Audit records, for device-audit (and read back by the SequenceGuard). */
    public static final OutputTag<io.devicesync.model.AuditRecord> AUDITS =
            new OutputTag<>("audits", TypeInformation.of(io.devicesync.model.AuditRecord.class));

    /** Exhausted redispatches, for device-redispatch-dlq. */
    public static final OutputTag<io.devicesync.model.Redispatch> REDISPATCH_DEAD_LETTERS =
            new OutputTag<>("redispatch-dead-letters", TypeInformation.of(io.devicesync.model.Redispatch.class));

    /** Alerts raised by any operator. */
    public static final OutputTag<Alert> ALERTS = new OutputTag<>("alerts", TypeInformation.of(Alert.class));
}
