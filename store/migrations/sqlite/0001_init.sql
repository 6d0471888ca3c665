-- Registry, tokens, devices and the audit log. Times are Unix microseconds
-- (BIGINT) in both dialects, so the shared Go code reads them the same way.

CREATE TABLE models (
    name          TEXT PRIMARY KEY,
    description   TEXT NOT NULL DEFAULT '',
    created_us    BIGINT NOT NULL,
    created_by    TEXT NOT NULL DEFAULT '',
    latest        TEXT NOT NULL DEFAULT '',
    current       TEXT NOT NULL DEFAULT '',
    version_count BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE versions (
    model            TEXT NOT NULL REFERENCES models (name),
    version          TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    parent           TEXT NOT NULL DEFAULT '',
    sha256           TEXT NOT NULL,
    length           BIGINT NOT NULL,
    manifest         TEXT NOT NULL DEFAULT '',
    published_by     TEXT NOT NULL DEFAULT '',
    published_us     BIGINT NOT NULL,
    notes            TEXT NOT NULL DEFAULT '',
    data_snapshot    TEXT NOT NULL DEFAULT '',
    training_run     TEXT NOT NULL DEFAULT '',
    federated_rounds TEXT NOT NULL DEFAULT '',
    epsilon          REAL,
    delta            REAL,
    eval_report      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (model, version),
    UNIQUE (model, seq)
);

CREATE TABLE artifacts (
    model        TEXT NOT NULL,
    version      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    from_version TEXT NOT NULL DEFAULT '',
    sha256       TEXT NOT NULL,
    length       BIGINT NOT NULL,
    media_type   TEXT NOT NULL DEFAULT '',
    created_us   BIGINT NOT NULL,
    PRIMARY KEY (model, version, kind, from_version, sha256),
    FOREIGN KEY (model, version) REFERENCES versions (model, version)
);

CREATE INDEX artifacts_sha256 ON artifacts (sha256);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    scope      TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    created_us BIGINT NOT NULL,
    revoked_us BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    credential_hash TEXT NOT NULL UNIQUE,
    attributes      TEXT NOT NULL DEFAULT '{}',
    registered_us   BIGINT NOT NULL,
    last_checkin_us BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    who     TEXT NOT NULL,
    what    TEXT NOT NULL,
    target  TEXT NOT NULL DEFAULT '',
    when_us BIGINT NOT NULL,
    details TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_who ON audit (who, id);
CREATE INDEX audit_what ON audit (what, id);
