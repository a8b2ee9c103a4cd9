-- Runs that ended without recording a result (killed, crashed) are kept
-- in the history with outcome 'crashed'. SQLite cannot change a CHECK in
-- place, so `runs` is rebuilt. Dropping `runs` while stage_results still
-- references it would cascade-delete every stage row (foreign keys are on
-- and cannot be switched off inside the migration's transaction), so the
-- stage rows are parked in a plain table and restored afterwards.

CREATE TABLE stage_results_parked AS SELECT * FROM stage_results;
DROP TABLE stage_results;

CREATE TABLE runs_v2 (
    service_id      TEXT NOT NULL REFERENCES services(service_id) ON DELETE CASCADE,
    started_at_ms   INTEGER NOT NULL,
    run_id          TEXT NOT NULL,
    trigger         TEXT NOT NULL CHECK (trigger IN ('scheduled', 'trigger', 'manual')),
    duration_ms     INTEGER NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('success', 'degraded', 'failed', 'crashed')),
    error_code      TEXT,
    error_message   TEXT,
    profile         TEXT,
    PRIMARY KEY (service_id, started_at_ms, run_id)
) WITHOUT ROWID;
INSERT INTO runs_v2 SELECT service_id, started_at_ms, run_id, trigger, duration_ms, outcome,
    error_code, error_message, profile FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
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
INSERT INTO stage_results SELECT run_id, seq, stage, success, optional, items_updated,
    error_code, error, exit_code, attempts, duration_ms FROM stage_results_parked;
DROP TABLE stage_results_parked;
