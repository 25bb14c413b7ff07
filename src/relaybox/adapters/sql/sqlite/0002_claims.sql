-- Leases move from one row per lane to one row per claim: a claim writes one
-- row and its settle deletes it, however many lanes it holds. ``lanes`` and
-- ``ids`` are JSON arrays.
CREATE TABLE {claims} (
    token      INTEGER PRIMARY KEY,
    owner      TEXT    NOT NULL,
    claimed_at REAL    NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    expires_at REAL    NOT NULL,
    lanes      TEXT    NOT NULL,
    ids        TEXT    NOT NULL
);

-- Leases taken before the upgrade carry over, with the ids they handed out:
-- if their relay died publishing, the next claim still counts that attempt.
INSERT INTO {claims} (token, owner, claimed_at, expires_at, lanes, ids)
SELECT l.token, min(l.owner), coalesce(min(l.claimed_at), (julianday('now') - 2440587.5) * 86400.0),
       max(l.lease_expires_at), json_group_array(l.lane),
       (SELECT json_group_array(j.value) FROM {lanes} m, json_each(coalesce(m.claimed_ids, '[]')) j
        WHERE m.token = l.token)
FROM {lanes} l
WHERE l.token IS NOT NULL AND l.owner IS NOT NULL AND l.lease_expires_at IS NOT NULL
GROUP BY l.token;

-- Lane rows now exist only while a lane is held shut for a retry or parked.
CREATE TABLE {lanes}_next (
    lane            TEXT PRIMARY KEY,
    available_at    REAL NOT NULL DEFAULT 0,
    parked_at       REAL,
    parked_event_id TEXT,
    parked_reason   TEXT
);
INSERT INTO {lanes}_next (lane, available_at, parked_at, parked_event_id, parked_reason)
SELECT lane, available_at, parked_at, parked_event_id, parked_reason FROM {lanes}
WHERE parked_at IS NOT NULL OR available_at > (julianday('now') - 2440587.5) * 86400.0;
DROP TABLE {lanes};
ALTER TABLE {lanes}_next RENAME TO {lanes};
