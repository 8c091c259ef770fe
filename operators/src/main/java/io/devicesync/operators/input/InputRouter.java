package io.devicesync.operators.input;

import io.devicesync.model.DeadLetter;
import io.devicesync.model.Increment;
import io.devicesync.model.SourceRecord;

/**
 * Splits what the events source read: valid increments go on, rejected records go to the
 * dead-letter side output. Metrics: {@code eventsIn}, {@code invalidRecords} (also per reason, in
 * the group {@code reason}).
 */
public class InputRouter extends Router<SourceRecord, Increment> {
    private static final long serialVersionUID = 1L;

    public InputRouter() {
        super("eventsIn", "invalidRecords");
    }

    @Override
    protected Increment valid(SourceRecord r) {
        return r.increment;
    }

    @Override
    protected DeadLetter rejected(SourceRecord r) {
        return r.rejected;
    }
}
