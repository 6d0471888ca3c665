-- Federated learning on replicas (server/fl_leader.go, server/fl_board.go).
--
-- fl_tasks: each federated task's committed state (the coordinator's
-- state and privacy ledger, the model version it trains), written by the
-- lease holder only: a write carries the lease's fencing epoch, checked
-- against the leases table and against the epoch of the last write, and a
-- version that moves forward by one per commit.
CREATE TABLE fl_tasks (
    name       TEXT PRIMARY KEY,
    version    BIGINT NOT NULL,
    epoch      BIGINT NOT NULL,
    document   TEXT NOT NULL,
    updated_us BIGINT NOT NULL
);

-- Task states committed before this migration lived among the telemetry
-- aggregates under "fl-task/NAME".
INSERT INTO fl_tasks (name, version, epoch, document, updated_us)
    SELECT substr(stream, 9), version, 0, document, updated_us
    FROM telemetry_aggregates WHERE stream LIKE 'fl-task/%';
DELETE FROM telemetry_aggregates WHERE stream LIKE 'fl-task/%';

-- fl_rounds: the round each task's leader runs, as every replica answers
-- devices from it: the attempt, whether selection is open and until when,
-- the seats handed out, and the view (JSON) of the round's progress. The
-- version moves on at every change (replicas' long polls watch it).
CREATE TABLE fl_rounds (
    task       TEXT PRIMARY KEY,
    attempt    BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    open       INTEGER NOT NULL,
    sel_end_us BIGINT NOT NULL,
    seats      BIGINT NOT NULL,
    view       TEXT NOT NULL,
    updated_us BIGINT NOT NULL
);

-- fl_seats: the devices checked in to a round attempt, through any
-- replica: the seat id (the device's secure-aggregation id, 1, 2, … in
-- order of check-in), the hash of the seat's token, and whether the
-- device left.
CREATE TABLE fl_seats (
    task       TEXT NOT NULL,
    attempt    BIGINT NOT NULL,
    id         BIGINT NOT NULL,
    device     TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    gone       INTEGER NOT NULL,
    PRIMARY KEY (task, attempt, id),
    UNIQUE (task, attempt, device)
);

-- fl_messages: what the leader has for each seat at each step of an
-- attempt (seat 0 of step 255: the attempt's assignment, the same for
-- every seat but its id).
CREATE TABLE fl_messages (
    task    TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    step    INTEGER NOT NULL,
    seat    BIGINT NOT NULL,
    body    BLOB NOT NULL,
    PRIMARY KEY (task, attempt, step, seat)
);
