-- Staged rollouts (delivery/rollout): the controller's full state of each
-- rollout as a JSON document, with the columns a query may filter on.

CREATE TABLE rollouts (
    id         TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    state      TEXT NOT NULL,
    document   TEXT NOT NULL,
    updated_us BIGINT NOT NULL
);

CREATE INDEX rollouts_model ON rollouts (model);
