"""The relay's SQL on PostgreSQL. ``{events}``-style names are filled in per outbox."""

from __future__ import annotations

# A claim is one statement, one round trip:
#
# * candidates - lanes of the oldest due events, skipping lanes that are leased,
#   parked or held shut. A blocked lane is filtered inside the scan, so it can
#   never crowd healthy lanes out of the batch; NOT IN over an uncorrelated
#   subquery is one hashed lookup per row, so the scan streams and stops at the
#   LIMIT. Lanes seen for the first time come back as ``missing``: they get
#   their row from CREATE_LANES, a statement of its own, and are leased next.
#   (Inserting them here would let two claims wait on each other: a claim's
#   insert waits for the other's lease of the same lane, and vice versa.)
# * grabbed - lease what nobody else holds (SKIP LOCKED lets relays claim side
#   by side). A lane is taken only if its ``version`` is still the one this
#   statement's snapshot saw: every settle bumps it, so a lane settled by
#   another relay after this statement began (whose deleted events this
#   snapshot still shows) is skipped until the next claim instead of being
#   handed out stale. The previous owner is kept: set, its lease expired
#   without a settle.
# * heads - each lane's head in order: what the scan saw of it, plus an even
#   share of the rest of the batch.
# * leased - owner, a new fencing token, expiry, and the ids handed out.
# * reclaimed - an expired lease may have published its events before its
#   relay died: that interrupted delivery counts as a failed attempt, for
#   exactly the events it handed out. (The rows returned carry the attempts
#   from before; the caller adds the one counted here.)
CLAIM = """
WITH candidates AS (
    SELECT c.lane, count(*) AS seen FROM (
        SELECT e.lane, e.id FROM {events} e
        WHERE e.available_at <= now()
          AND e.lane NOT IN (
              SELECT l.lane FROM {lanes} l
              WHERE l.parked_at IS NOT NULL OR l.available_at > now() OR l.lease_expires_at > now())
        ORDER BY e.id
        LIMIT $1
    ) c
    GROUP BY c.lane ORDER BY min(c.id) LIMIT $2
), known AS (
    SELECT c.lane, c.seen, l.version FROM candidates c JOIN {lanes} l ON l.lane = c.lane
), grabbed AS (
    -- One primary-key lookup per candidate; SKIP LOCKED never waits, so the
    -- order of locking cannot deadlock.
    SELECT g.*, k.seen FROM known k
    CROSS JOIN LATERAL (
        SELECT l.lane, l.owner AS prev_owner, l.claimed_ids AS prev_ids
        FROM {lanes} l
        WHERE l.lane = k.lane AND l.version = k.version AND l.parked_at IS NULL
          AND l.available_at <= now()
          AND (l.lease_expires_at IS NULL OR l.lease_expires_at <= now())
        FOR UPDATE SKIP LOCKED
    ) g
), sized AS (
    SELECT g.*, g.seen + ($3::int - sum(g.seen) OVER ())::int / count(*) OVER () AS take
    FROM grabbed g
), heads AS (
    SELECT x.id, x.event_id, x.topic, x.key, x.seq, x.lane, x.type, x.aggregate_type,
           x.content_type, x.payload, x.headers, x.created_at, x.attempts
    FROM sized s
    CROSS JOIN LATERAL (
        SELECT * FROM {events} e
        WHERE e.lane = s.lane AND (e.key IS NOT NULL OR e.available_at <= now())
        ORDER BY e.seq, e.id
        LIMIT s.take
    ) x
), handed AS (
    SELECT lane, array_agg(id) AS ids FROM heads GROUP BY lane
), token AS (
    SELECT nextval('{tokens}') AS value
), leased AS (
    UPDATE {lanes} l
    SET owner = $4, token = t.value, lease_expires_at = now() + make_interval(secs => $5),
        claimed_at = now(), claimed_ids = h.ids
    FROM sized s CROSS JOIN token t LEFT JOIN handed h ON h.lane = s.lane
    WHERE l.lane = s.lane
    RETURNING l.lane, l.token, s.prev_owner, s.prev_ids
), reclaimed AS (
    UPDATE {events} e
    SET attempts = e.attempts + 1, first_failed_at = coalesce(e.first_failed_at, now()),
        last_failed_at = now(),
        last_error = 'LeaseExpiredError: the lease of relay ' || r.prev_owner
                     || ' expired before it settled'
    FROM (SELECT unnest(prev_ids) AS id, prev_owner FROM leased WHERE prev_owner IS NOT NULL) r
    WHERE e.id = r.id
    RETURNING e.id
)
-- The heads, then one last row with what concerns the whole claim (sent once,
-- not repeated on every row).
SELECT NULL AS missing, NULL AS lanes, NULL AS token, NULL AS reclaimed, h.* FROM heads h
UNION ALL
SELECT (SELECT array_agg(c.lane ORDER BY c.lane) FROM candidates c
        WHERE NOT EXISTS (SELECT 1 FROM {lanes} n WHERE n.lane = c.lane)),
       (SELECT array_agg(lane) FROM leased),
       (SELECT max(token) FROM leased),
       (SELECT array_agg(id) FROM reclaimed),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
"""

CREATE_LANES = """
INSERT INTO {lanes} (lane) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT (lane) DO NOTHING
"""

# The common case in one round trip: everything delivered and every lease
# still ours. Only then does anything change (the InitPlan ``whole`` is false
# otherwise); the caller sees which lanes were held and takes the careful path.
# Deleting by primary key alone, once the lanes are known to be ours, visits
# just the delivered rows instead of every row of every lane.
SETTLE_DELIVERED = """
WITH held AS (
    SELECT lane FROM {lanes}
    WHERE lane = ANY($1::text[]) AND token = $2 AND lease_expires_at > now()
    ORDER BY lane
    FOR UPDATE
), whole AS (
    SELECT count(*) = cardinality($1::text[]) AS ours FROM held
), deleted AS (
    DELETE FROM {events} e
    WHERE e.id = ANY($3::bigint[]) AND (SELECT ours FROM whole)
    RETURNING e.id
), released AS (
    UPDATE {lanes} l
    SET owner = NULL, token = NULL, lease_expires_at = NULL, claimed_at = NULL, claimed_ids = NULL,
        version = l.version + 1
    FROM held h WHERE l.lane = h.lane AND (SELECT ours FROM whole)
)
SELECT array(SELECT lane FROM held) AS held, (SELECT count(*) FROM deleted) AS deleted
"""

HELD = """
SELECT lane FROM {lanes}
WHERE lane = ANY($1::text[]) AND token = $2 AND lease_expires_at > now()
ORDER BY lane
FOR UPDATE
"""

DELETE_DELIVERED = "DELETE FROM {events} WHERE id = ANY($1::bigint[])"

SCHEDULE_RETRY = """
UPDATE {events} e
SET attempts = e.attempts + 1, available_at = now() + make_interval(secs => r.delay),
    first_failed_at = coalesce(e.first_failed_at, now()), last_failed_at = now(), last_error = r.error
FROM unnest($1::bigint[], $2::float8[], $3::text[]) AS r(id, delay, error)
WHERE e.id = r.id
"""

MOVE_TO_DEAD = """
WITH moved AS (
    DELETE FROM {events} e
    USING unnest($1::bigint[], $2::text[], $3::text[], $4::int[]) AS r(id, error, error_type, attempts)
    WHERE e.id = r.id
    RETURNING e.*, r.error AS final_error, r.error_type AS final_type, r.attempts AS final_attempts
)
INSERT INTO {dead} (row_id, event_id, topic, key, seq, lane, type, aggregate_type, content_type,
                    payload, headers, created_at, attempts, first_failed_at, last_failed_at,
                    error, error_type)
SELECT id, event_id, topic, key, seq, lane, type, aggregate_type, content_type, payload, headers,
       created_at, final_attempts, coalesce(first_failed_at, now()), now(), final_error, final_type
FROM moved
"""

RELEASE = """
UPDATE {lanes} l
SET owner = NULL, token = NULL, lease_expires_at = NULL, claimed_at = NULL, claimed_ids = NULL,
    version = l.version + 1,
    available_at = CASE WHEN r.hold IS NULL THEN l.available_at
                        ELSE now() + make_interval(secs => r.hold) END,
    parked_at = CASE WHEN r.park_event IS NULL THEN l.parked_at ELSE now() END,
    parked_event_id = coalesce(r.park_event, l.parked_event_id),
    parked_reason = coalesce(r.park_reason, l.parked_reason)
FROM unnest($1::text[], $2::float8[], $3::text[], $4::text[]) AS r(lane, hold, park_event, park_reason)
WHERE l.lane = r.lane
"""

EXTEND = """
UPDATE {lanes} SET lease_expires_at = now() + make_interval(secs => $3)
WHERE lane = ANY($1::text[]) AND token = $2 AND lease_expires_at > now()
"""

PURGE_OLD_DEAD = """
DELETE FROM {dead} WHERE id IN (
    SELECT id FROM {dead} WHERE dead_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2)
"""

# Idle lanes carry no state worth keeping. Key sequences are never removed: a
# key that restarted at 1 while an older event of it was still pending would
# overtake that event.
PURGE_IDLE_LANES = """
DELETE FROM {lanes} WHERE lane IN (
    SELECT l.lane FROM {lanes} l
    WHERE l.owner IS NULL AND l.parked_at IS NULL AND l.available_at <= now()
      AND NOT EXISTS (SELECT 1 FROM {events} e WHERE e.lane = l.lane)
    LIMIT $1 FOR UPDATE SKIP LOCKED)
"""
