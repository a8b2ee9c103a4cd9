-- Runs skipped for an unmet condition (`conditions` in syncfleet.json) are
-- counted by condition: three more cached counters on `services`, and
-- `skips.reason` takes `condition:<name>`. SQLite cannot change a CHECK in
-- place, so `skips` is rebuilt (nothing references it).

ALTER TABLE services ADD COLUMN skipped_condition_on_ac_power INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN skipped_condition_reachable INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN skipped_condition_quiet_hours INTEGER NOT NULL DEFAULT 0;

CREATE TABLE skips_v3 (
    service_id  TEXT NOT NULL REFERENCES services(service_id) ON DELETE CASCADE,
    at_ms       INTEGER NOT NULL,
    reason      TEXT NOT NULL CHECK (reason IN ('backoff', 'paused', 'locked',
                    'condition:on_ac_power', 'condition:reachable', 'condition:quiet_hours')),
    count       INTEGER NOT NULL DEFAULT 1
);
INSERT INTO skips_v3 (service_id, at_ms, reason, count)
    SELECT service_id, at_ms, reason, count FROM skips;
DROP TABLE skips;
ALTER TABLE skips_v3 RENAME TO skips;
CREATE INDEX skips_by_service ON skips (service_id, at_ms);
