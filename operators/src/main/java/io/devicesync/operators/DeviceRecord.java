package io.devicesync.operators;

/** Prototype: everything the sync step keeps of one device, in one value (guard and reconciler). */
public class DeviceRecord {
    public GuardState guard;
    public ReconcilerState reconciler;

    public DeviceRecord() {}
}
