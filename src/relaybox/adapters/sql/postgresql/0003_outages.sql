-- Publish attempts and expired leases are counted apart: an event that failed
-- at the destination counts ``attempts``; a lease on it that ran out unsettled
-- (its relay crashed or froze mid-publish) counts ``lease_expiries``. Each has
-- its own limit, and a dead letter says which one it reached.
ALTER TABLE {events} ADD COLUMN lease_expiries integer NOT NULL DEFAULT 0;
ALTER TABLE {dead} ADD COLUMN lease_expiries integer NOT NULL DEFAULT 0;

-- A parked lane's pending events are set aside (``parked``), so a claim's scan
-- never steps over them, however large the backlog: the scan reads the
-- partial index of claimable rows. Unparking and replay clear the mark.
ALTER TABLE {events} ADD COLUMN parked boolean;
CREATE INDEX {events}_claimable ON {events} (id) WHERE parked IS NULL;
UPDATE {events} SET parked = true
WHERE lane IN (SELECT lane FROM {lanes} WHERE parked_at IS NOT NULL);
