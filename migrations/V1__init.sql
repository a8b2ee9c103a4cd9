-- The registry: an index of the per-service files (manifest.json,
-- status.json, runs.jsonl), never their replacement. Everything here can be
-- rebuilt by `syncfleet reindex`. Tokens never enter it.

CREATE TABLE services (
    service_id              TEXT PRIMARY KEY NOT NULL,
    identity_hash           TEXT,
    name                    TEXT,
    workspace_root          TEXT,
    config_path             TEXT,
    project_urls            TEXT NOT NULL DEFAULT '[]',   -- JSON array
    tags                    TEXT NOT NULL DEFAULT '[]',   -- JSON array
    platform                TEXT,
    interval_seconds        INTEGER,
    profile                 TEXT,
    lock_group              TEXT,
    binary_path             TEXT,
    spec_hash               TEXT,
    max_transient_failures  INTEGER,
    cooldown_seconds        INTEGER,
    installed_at_iso        TEXT,
    updated_at_iso          TEXT,
    -- NULL while installed; set by uninstall (history stays).
    uninstalled_at_ms       INTEGER,
    installed               INTEGER NOT NULL DEFAULT 0,

    -- A cached copy of status.json, enough for `list` to compute the
    -- scheduler state without reading 10,000 files.
    consecutive_failures    INTEGER NOT NULL DEFAULT 0,
    next_retry_at_ms        INTEGER,
    paused_reason           TEXT,
    pause_kind              TEXT,
    paused_at_ms            INTEGER,
    cb_paused_at_ms         INTEGER,
    last_error_code         TEXT,
    current_run_pid         INTEGER,
    current_run_started_ms  INTEGER,
    last_run_id             TEXT,
    last_run_ms             INTEGER,
    last_outcome            TEXT,
    skipped_backoff         INTEGER NOT NULL DEFAULT 0,
    skipped_paused          INTEGER NOT NULL DEFAULT 0,
    skipped_locked          INTEGER NOT NULL DEFAULT 0,

    -- Import marker: bytes of runs.jsonl already in `runs`.
    runs_offset             INTEGER NOT NULL DEFAULT 0
);

-- Clustered by service then time: per-service history and the report scan
-- read consecutive pages.
CREATE TABLE runs (
    service_id      TEXT NOT NULL REFERENCES services(service_id) ON DELETE CASCADE,
    started_at_ms   INTEGER NOT NULL,
    run_id          TEXT NOT NULL,
    trigger         TEXT NOT NULL CHECK (trigger IN ('scheduled', 'trigger', 'manual')),
    duration_ms     INTEGER NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('success', 'degraded', 'failed')),
    error_code      TEXT,
    error_message   TEXT,
    profile         TEXT,
    PRIMARY KEY (service_id, started_at_ms, run_id)
) WITHOUT ROWID;

CREATE UNIQUE INDEX runs_run_id ON runs (run_id);
CREATE INDEX runs_by_time ON runs (started_at_ms);

CREATE TABLE stage_results (
    run_id          TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    stage           TEXT NOT NULL,
    success         INTEGER NOT NULL,
    optional        INTEGER NOT NULL,
    items_updated   INTEGER NOT NULL DEFAULT 0,
    error_code      TEXT,
    error           TEXT,
    exit_code       INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 1,
    duration_ms     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- Invocations that did not run the pipeline, one row each, from the
-- increase of status.json's `skipped` counters (for windowed reports).
CREATE TABLE skips (
    service_id  TEXT NOT NULL REFERENCES services(service_id) ON DELETE CASCADE,
    at_ms       INTEGER NOT NULL,
    reason      TEXT NOT NULL CHECK (reason IN ('backoff', 'paused', 'locked')),
    count       INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX skips_by_service ON skips (service_id, at_ms);

-- Registry facts: `filled` = a full import from the files has completed
-- (a registry created after the files were is filled by the next reader).
CREATE TABLE meta (
    key     TEXT PRIMARY KEY NOT NULL,
    value   TEXT NOT NULL
);
