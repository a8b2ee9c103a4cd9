-- Running totals for the Prometheus metrics file (src/metrics.rs), kept by
-- triggers as runs and skip events are inserted, so that writing the file
-- after every run reads one row per service instead of scanning `runs`.
-- Only inserts count: `prune` deleting old runs or skip events never makes
-- a counter go down (a Prometheus counter only resets, and a rebuilt
-- registry is such a reset). A migration that rebuilds `runs` or `skips`
-- (DROP + CREATE) drops its trigger and must create it again;
-- registry::tests::metrics_triggers_survive_every_migration checks that.

CREATE TABLE run_totals (
    service_id          TEXT PRIMARY KEY NOT NULL REFERENCES services(service_id) ON DELETE CASCADE,
    success             INTEGER NOT NULL DEFAULT 0,
    degraded            INTEGER NOT NULL DEFAULT 0,
    failed              INTEGER NOT NULL DEFAULT 0,
    crashed             INTEGER NOT NULL DEFAULT 0,
    last_run_ms         INTEGER,
    -- The last run whose core stages all succeeded (success or degraded).
    last_success_ms     INTEGER,
    -- The duration histogram of runs that recorded one (crashed runs did
    -- not: their duration is unknown). Cumulative, as Prometheus wants:
    -- le_5 counts every run of 5 s or less. Changing the buckets takes a
    -- migration that recounts them from `runs`.
    le_1                INTEGER NOT NULL DEFAULT 0,
    le_5                INTEGER NOT NULL DEFAULT 0,
    le_15               INTEGER NOT NULL DEFAULT 0,
    le_60               INTEGER NOT NULL DEFAULT 0,
    le_300              INTEGER NOT NULL DEFAULT 0,
    le_900              INTEGER NOT NULL DEFAULT 0,
    le_3600             INTEGER NOT NULL DEFAULT 0,
    timed               INTEGER NOT NULL DEFAULT 0,
    duration_sum_ms     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Runs with an error code, by code (failed, degraded and crashed runs).
CREATE TABLE error_totals (
    service_id  TEXT NOT NULL REFERENCES services(service_id) ON DELETE CASCADE,
    error_code  TEXT NOT NULL,
    n           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (service_id, error_code)
) WITHOUT ROWID;

-- Skipped invocations, by reason (whatever text the reason is).
CREATE TABLE skip_totals (
    service_id  TEXT NOT NULL REFERENCES services(service_id) ON DELETE CASCADE,
    reason      TEXT NOT NULL,
    n           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (service_id, reason)
) WITHOUT ROWID;

CREATE TRIGGER runs_count_for_metrics AFTER INSERT ON runs
BEGIN
    INSERT OR IGNORE INTO run_totals (service_id) VALUES (NEW.service_id);
    UPDATE run_totals SET
        success = success + (NEW.outcome = 'success'),
        degraded = degraded + (NEW.outcome = 'degraded'),
        failed = failed + (NEW.outcome = 'failed'),
        crashed = crashed + (NEW.outcome = 'crashed'),
        last_run_ms = MAX(COALESCE(last_run_ms, NEW.started_at_ms), NEW.started_at_ms),
        last_success_ms = CASE WHEN NEW.outcome IN ('success', 'degraded')
            THEN MAX(COALESCE(last_success_ms, NEW.started_at_ms), NEW.started_at_ms)
            ELSE last_success_ms END,
        le_1 = le_1 + (NEW.outcome <> 'crashed' AND NEW.duration_ms <= 1000),
        le_5 = le_5 + (NEW.outcome <> 'crashed' AND NEW.duration_ms <= 5000),
        le_15 = le_15 + (NEW.outcome <> 'crashed' AND NEW.duration_ms <= 15000),
        le_60 = le_60 + (NEW.outcome <> 'crashed' AND NEW.duration_ms <= 60000),
        le_300 = le_300 + (NEW.outcome <> 'crashed' AND NEW.duration_ms <= 300000),
        le_900 = le_900 + (NEW.outcome <> 'crashed' AND NEW.duration_ms <= 900000),
        le_3600 = le_3600 + (NEW.outcome <> 'crashed' AND NEW.duration_ms <= 3600000),
        timed = timed + (NEW.outcome <> 'crashed'),
        duration_sum_ms = duration_sum_ms + CASE WHEN NEW.outcome <> 'crashed' THEN NEW.duration_ms ELSE 0 END
    WHERE service_id = NEW.service_id;
    INSERT OR IGNORE INTO error_totals (service_id, error_code)
        SELECT NEW.service_id, NEW.error_code WHERE NEW.error_code IS NOT NULL;
    UPDATE error_totals SET n = n + 1
        WHERE service_id = NEW.service_id AND error_code = NEW.error_code;
END;

CREATE TRIGGER skips_count_for_metrics AFTER INSERT ON skips
BEGIN
    INSERT OR IGNORE INTO skip_totals (service_id, reason) VALUES (NEW.service_id, NEW.reason);
    UPDATE skip_totals SET n = n + NEW.count
        WHERE service_id = NEW.service_id AND reason = NEW.reason;
END;

-- A registry from before this migration: count what it already holds.
INSERT INTO run_totals (service_id, success, degraded, failed, crashed, last_run_ms,
    last_success_ms, le_1, le_5, le_15, le_60, le_300, le_900, le_3600, timed, duration_sum_ms)
SELECT service_id,
    SUM(outcome = 'success'), SUM(outcome = 'degraded'), SUM(outcome = 'failed'),
    SUM(outcome = 'crashed'), MAX(started_at_ms),
    MAX(CASE WHEN outcome IN ('success', 'degraded') THEN started_at_ms END),
    SUM(outcome <> 'crashed' AND duration_ms <= 1000),
    SUM(outcome <> 'crashed' AND duration_ms <= 5000),
    SUM(outcome <> 'crashed' AND duration_ms <= 15000),
    SUM(outcome <> 'crashed' AND duration_ms <= 60000),
    SUM(outcome <> 'crashed' AND duration_ms <= 300000),
    SUM(outcome <> 'crashed' AND duration_ms <= 900000),
    SUM(outcome <> 'crashed' AND duration_ms <= 3600000),
    SUM(outcome <> 'crashed'),
    SUM(CASE WHEN outcome <> 'crashed' THEN duration_ms ELSE 0 END)
FROM runs GROUP BY service_id;

INSERT INTO error_totals (service_id, error_code, n)
SELECT service_id, error_code, COUNT(*) FROM runs
WHERE error_code IS NOT NULL GROUP BY service_id, error_code;

INSERT INTO skip_totals (service_id, reason, n)
SELECT service_id, reason, SUM(count) FROM skips GROUP BY service_id, reason;
