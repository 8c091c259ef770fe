package io.devicesync.model;

/** Why a record of {@code device-events} or {@code device-acks} is rejected to the dead-letter topic. Codes are public. */
public final class RejectReason {
    private RejectReason() {}

    public static final String NULL_VALUE = "NULL_VALUE";
    public static final String TOO_LARGE = "TOO_LARGE";
    public static final String NOT_UTF8 = "NOT_UTF8";
    public static final String NOT_JSON = "NOT_JSON";
    public static final String NOT_OBJECT = "NOT_OBJECT";
    public static final String MISSING_DEVICE_ID = "MISSING_DEVICE_ID";
    public static final String INVALID_DEVICE_ID = "INVALID_DEVICE_ID";
    public static final String MISSING_SEQ = "MISSING_SEQ";
    public static final String MISTYPED_SEQ = "MISTYPED_SEQ";
    public static final String SEQ_OUT_OF_RANGE = "SEQ_OUT_OF_RANGE";
    public static final String MISSING_TS = "MISSING_TS";
    public static final String MISTYPED_TS = "MISTYPED_TS";
    public static final String MISTYPED_EPOCH = "MISTYPED_EPOCH";
    public static final String EPOCH_OUT_OF_RANGE = "EPOCH_OUT_OF_RANGE";
    public static final String MISSING_DATA = "MISSING_DATA";
    public static final String DATA_NOT_OBJECT = "DATA_NOT_OBJECT";
    public static final String KEY_MISMATCH = "KEY_MISMATCH";
    /** An ack without a {@code consumer}. */
    public static final String MISSING_CONSUMER = "MISSING_CONSUMER";
    /** An ack whose {@code consumer} is not a non-empty string of at most 128 characters. */
    public static final String INVALID_CONSUMER = "INVALID_CONSUMER";
    /** The deserializer hit something it did not foresee; the record is kept, not lost. */
    public static final String INTERNAL_ERROR = "INTERNAL_ERROR";
}
