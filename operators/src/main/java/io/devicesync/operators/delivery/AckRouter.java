package io.devicesync.operators.delivery;

import io.devicesync.model.Ack;
import io.devicesync.model.AckRecord;
import io.devicesync.model.DeadLetter;
import io.devicesync.operators.input.Router;

/**
 * Splits what the acks source read: valid acks go on, malformed ones to the dead-letter side output
 * (to the dead-letter topic and the INVALID_INPUT alerts, like rejected increments). Metrics:
 * {@code acksIn}, {@code invalidAcks} (also per reason, in the group {@code reason}).
 */
public class AckRouter extends Router<AckRecord, Ack> {
    private static final long serialVersionUID = 1L;

    public AckRouter() {
        super("acksIn", "invalidAcks");
    }

    @Override
    protected Ack valid(AckRecord r) {
        return r.ack;
    }

    @Override
    protected DeadLetter rejected(AckRecord r) {
        return r.rejected;
    }
}
