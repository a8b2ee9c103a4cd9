-- A calendar service's schedule (the manifest's `calendar`, as JSON), so
-- that `list` computes its next run without reading the manifest. NULL:
-- an interval service.
ALTER TABLE services ADD COLUMN calendar TEXT;
