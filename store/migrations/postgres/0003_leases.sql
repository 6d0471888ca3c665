-- Leader leases (package lease): one row per lease name with its fencing
-- epoch, bumped each time a replica becomes leader. A leader's writes
-- carry the epoch they were granted and are refused once it has moved on.

CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    epoch       BIGINT NOT NULL,
    holder      TEXT NOT NULL,
    acquired_us BIGINT NOT NULL
);
