package io.devicesync.model;

public enum Severity {
    INFO,
    WARNING,
    CRITICAL
}
