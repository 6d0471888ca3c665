-- Telemetry aggregates (server/telemetry_queue.go): each declared
-- stream's aggregate as the consumer committed it, under a version that
-- increases by one per commit. The document records the queue sequences
-- folded in, so a redelivered report is recognised and skipped.

CREATE TABLE telemetry_aggregates (
    stream     TEXT PRIMARY KEY,
    version    BIGINT NOT NULL,
    document   TEXT NOT NULL,
    updated_us BIGINT NOT NULL
);
