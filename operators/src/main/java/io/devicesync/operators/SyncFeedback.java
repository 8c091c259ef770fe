package io.devicesync.operators;

import io.devicesync.model.AuditRecord;
import io.devicesync.model.LookupResult;

/**
 * The fused sync step's second input: an audit record read back from device-audit, or a lookup's
 * result answered into the step by its own lookups (never both).
 */
public class SyncFeedback {
    public AuditRecord audit;
    public LookupResult result;

    public SyncFeedback() {}

    public static SyncFeedback of(AuditRecord a) {
        SyncFeedback f = new SyncFeedback();
        f.audit = a;
        return f;
    }

    public static SyncFeedback of(LookupResult r) {
        SyncFeedback f = new SyncFeedback();
        f.result = r;
        return f;
    }

    /** The device it is about: the key of the step. */
    public String deviceId() {
        return audit != null ? audit.deviceId : result.request.deviceId;
    }
}
