#!/usr/bin/env bash
# Creates the topics devicesync reads and writes (the job does not create them).
# Usage: BOOTSTRAP=kafka:9092 PARTITIONS=12 REPLICATION=3 ./topics.sh
set -euo pipefail
: "${BOOTSTRAP:?set BOOTSTRAP}"; P="${PARTITIONS:-12}"; R="${REPLICATION:-3}"
for t in device-events device-acks device-alerts device-events-dlq device-redispatch device-redispatch-dlq; do
  kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$t" --partitions "$P" --replication-factor "$R"
done
for t in device-state device-audit; do
  kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$t" --partitions "$P" --replication-factor "$R" \
    --config cleanup.policy=compact
done
