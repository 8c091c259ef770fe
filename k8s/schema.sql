-- The source of truth devicesync reads (read-only). Written by the device platform.
CREATE TABLE IF NOT EXISTS device_snapshot (
  device_id  text        PRIMARY KEY,
  epoch      bigint      NOT NULL DEFAULT 0,
  seq        bigint      NOT NULL,
  state      jsonb       NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS device_increment (
  device_id text        NOT NULL,
  epoch     bigint      NOT NULL DEFAULT 0,
  seq       bigint      NOT NULL,
  data      jsonb       NOT NULL,
  ts        timestamptz NOT NULL,
  PRIMARY KEY (device_id, epoch, seq)
);
