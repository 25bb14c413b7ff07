-- Leases move from one row per lane to one row per claim: a claim writes one
-- row and its settle deletes it, however many lanes it holds. Claims are made
-- one at a time (a transaction-scoped advisory lock), so a claim sees every
-- lease made before it.
CREATE TABLE {claims} (
    token      bigint      PRIMARY KEY,
    owner      text        NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    lanes      text[]      NOT NULL,
    ids        bigint[]    NOT NULL
);
-- A claim's arrays outgrow a page's inline share: store them out of line as
-- they are, since compressing them would cost more than the claim's scan.
ALTER TABLE {claims} ALTER COLUMN lanes SET STORAGE EXTERNAL, ALTER COLUMN ids SET STORAGE EXTERNAL;

-- From now on the relay reads a key's events in id order. Earlier releases
-- could leave a key's ids out of its sequence order (a writer that drew its id
-- while waiting for the key's lock; a replayed event put back in front of its
-- key). Such keys are locked against writers first, then their pending events
-- get new ids in sequence order.
SELECT k.key FROM {keys} k
WHERE k.key IN (
    SELECT x.key FROM (
        SELECT e.key, e.id, lag(e.id) OVER (PARTITION BY e.lane ORDER BY e.seq, e.id) AS before
        FROM {events} e WHERE e.key IS NOT NULL) x
    WHERE x.before > x.id)
ORDER BY k.key
FOR UPDATE;
CREATE TEMPORARY TABLE {events}_renumbered ON COMMIT DROP AS
SELECT e.id AS old_id, e.lane, e.seq FROM {events} e
WHERE e.lane IN (
    SELECT x.lane FROM (
        SELECT e.lane, e.id, lag(e.id) OVER (PARTITION BY e.lane ORDER BY e.seq, e.id) AS before
        FROM {events} e WHERE e.key IS NOT NULL) x
    WHERE x.before > x.id);
WITH disordered AS (
    SELECT DISTINCT x.lane FROM (
        SELECT e.lane, e.id, lag(e.id) OVER (PARTITION BY e.lane ORDER BY e.seq, e.id) AS before
        FROM {events} e WHERE e.key IS NOT NULL) x
    WHERE x.before > x.id
), moved AS (
    DELETE FROM {events} e USING disordered d WHERE e.lane = d.lane RETURNING e.*
)
INSERT INTO {events} (event_id, topic, key, seq, lane, type, aggregate_type, content_type,
                      payload, headers, created_at, available_at, attempts, first_failed_at,
                      last_failed_at, last_error)
SELECT event_id, topic, key, seq, lane, type, aggregate_type, content_type, payload, headers,
       created_at, available_at, attempts, first_failed_at, last_failed_at, last_error
FROM moved ORDER BY lane, seq, id;

-- Leases taken before the upgrade carry over, with the ids they handed out:
-- if their relay died publishing, the next claim still counts that attempt.
-- An id the renumbering above changed is mapped to its event's new id (a
-- keyed event is one (lane, seq) before and after).
INSERT INTO {claims} (token, owner, claimed_at, expires_at, lanes, ids)
SELECT l.token, min(l.owner), coalesce(min(l.claimed_at), now()), max(l.lease_expires_at),
       array_agg(l.lane ORDER BY l.lane),
       coalesce((SELECT array_agg(coalesce(n.id, i))
                 FROM {lanes} m CROSS JOIN unnest(m.claimed_ids) AS i
                 LEFT JOIN {events}_renumbered r ON r.old_id = i
                 LEFT JOIN {events} n ON n.lane = r.lane AND n.seq = r.seq
                 WHERE m.token = l.token), '{{}}')
FROM {lanes} l
WHERE l.token IS NOT NULL AND l.owner IS NOT NULL AND l.lease_expires_at IS NOT NULL
GROUP BY l.token;

-- Lane rows now exist only while a lane is held shut for a retry or parked.
DELETE FROM {lanes} WHERE parked_at IS NULL AND available_at <= now();
ALTER TABLE {lanes}
    DROP COLUMN owner,
    DROP COLUMN token,
    DROP COLUMN lease_expires_at,
    DROP COLUMN claimed_at,
    DROP COLUMN claimed_ids,
    DROP COLUMN version;

