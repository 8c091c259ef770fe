package io.devicesync.operators;

/** Everything the sync step (DeviceSync) keeps of one device, in one value: the guard's and the reconciler's. */
public class DeviceRecord {
    public GuardState guard;
    public ReconcilerState reconciler;

    public DeviceRecord() {}
}
