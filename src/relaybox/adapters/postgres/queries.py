"""The relay's SQL on PostgreSQL. ``{events}``-style names are filled in per outbox."""

from __future__ import annotations

# Claims are made one at a time per outbox: a claim's transaction first takes
# this lock, so the statement after it sees every claim committed before it
# (a statement's snapshot is taken when it starts, hence a statement of its
# own). Publishing and settling run side by side; only choosing is serial.
# The two-key form keeps relaybox's locks apart from an application's
# single-key advisory locks.
LOCK = "SELECT pg_advisory_xact_lock(hashtext('relaybox'), hashtext('claim {events}'))"

# A claim is then one statement. It rests on one invariant: within a lane, id
# order is delivery order. Writers draw an event's id while holding its key's
# row lock (see ``outbox/writing/postgres.py``), so a key's ids rise with its
# sequence; a replay that puts an old event back renumbers what is pending
# behind it (``admin.py``). Unkeyed lanes have no order.
#
# Times are ``statement_timestamp()``: ``now()`` is when the transaction began,
# before any wait for the lock, and would shorten the lease by that wait.
#
# * expired - a lease that ran out: its claim row goes. Its relay may have
#   published the events before it died, so that interrupted delivery counts
#   as a failed attempt, for exactly the events it handed out (reclaimed; the
#   rows returned carry the attempts from before, the caller adds this one).
#   A row that a settle holds (its lease was live when the settle began) is
#   skipped, not waited for: a stuck settle must not stall every claim. Its
#   lanes stay blocked, as below.
# * blocked - lanes of the live claims (as of this statement's snapshot, so a
#   claim whose settle commits meanwhile still blocks: its deleted events are
#   never handed out again), and lanes parked or held shut for a retry.
# * scan - the oldest claimable events by id (a parked lane's events are set
#   aside and not in the partial index it reads) in lanes not blocked: unkeyed ones once due,
#   keyed ones whatever their ``available_at`` (a keyed retry holds its whole
#   lane shut through ``{lanes}``, so the key's order is kept). A blocked lane is
#   filtered inside the scan, so it can never crowd healthy lanes out of the
#   batch; NOT IN over an uncorrelated subquery is one hashed lookup per row,
#   so the scan streams and stops at the LIMIT. Every earlier event of a lane
#   it returns is delivered or in this scan, so the scan holds each lane's
#   head, in order. The scan stops early at the claim's byte budget ($4): the
#   first event always fits, then events while the payloads before them stay
#   under it (a prefix of the id order, so still each lane's head, in order).
# * claimed - the lease: one row, with owner, a new fencing token, expiry, the
#   lanes and the ids handed out, however many lanes the batch spans.
CLAIM = """
WITH expired AS (
    DELETE FROM {claims} WHERE token IN (
        SELECT token FROM {claims} WHERE expires_at <= statement_timestamp()
        FOR UPDATE SKIP LOCKED)
    RETURNING token, owner, ids
), reclaimed AS (
    UPDATE {events} e
    SET lease_expiries = e.lease_expiries + 1,
        last_failed_at = statement_timestamp(),
        last_error = 'LeaseExpiredError: the lease of relay ' || x.owner
                     || ' expired before it settled'
    FROM (SELECT unnest(ids) AS id, owner FROM expired) x
    WHERE e.id = x.id
    RETURNING e.id
), blocked AS (
    SELECT unnest(c.lanes) AS lane FROM {claims} c
    WHERE c.token NOT IN (SELECT token FROM expired)
    UNION ALL
    SELECT l.lane FROM {lanes} l
    WHERE l.parked_at IS NOT NULL OR l.available_at > statement_timestamp()
), scan AS (
    SELECT s.id, s.event_id, s.topic, s.key, s.seq, s.lane, s.type, s.aggregate_type,
           s.content_type, s.payload, s.headers, s.created_at, s.attempts, s.lease_expiries,
           s.first_failed_at
    FROM (
        SELECT e.*, sum(octet_length(e.payload)) OVER (ORDER BY e.id ROWS UNBOUNDED PRECEDING)
                    - octet_length(e.payload) AS bytes_before
        FROM {events} e
        WHERE e.parked IS NULL
          AND (e.key IS NOT NULL OR e.available_at <= statement_timestamp())
          AND e.lane NOT IN (SELECT lane FROM blocked)
        ORDER BY e.id
        LIMIT $1) s
    WHERE s.bytes_before < $4
), claimed AS (
    INSERT INTO {claims} (token, owner, claimed_at, expires_at, lanes, ids)
    SELECT nextval('{tokens}'), $2, statement_timestamp(),
           statement_timestamp() + make_interval(secs => $3),
           array(SELECT DISTINCT lane FROM scan), array(SELECT id FROM scan)
    WHERE EXISTS (SELECT 1 FROM scan)
    RETURNING token, lanes
)
-- The events in id order (so each lane's in its order), then one last row with
-- what concerns the whole claim (sent once, not on every row).
SELECT NULL::text[] AS lanes, NULL::bigint AS token, NULL::bigint[] AS reclaimed, s.*
FROM scan s
UNION ALL
SELECT (SELECT lanes FROM claimed), (SELECT token FROM claimed),
       (SELECT array_agg(id) FROM reclaimed),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
"""

# The common case in one round trip: everything delivered. The lease is ours
# if its row is still there and live; deleting it ends it. Only then are the
# delivered rows deleted (by primary key, visiting just those rows).
SETTLE_DELIVERED = """
WITH ended AS (
    DELETE FROM {claims} WHERE token = $1 AND expires_at > now() RETURNING token
), deleted AS (
    DELETE FROM {events} e
    WHERE e.id = ANY($2::bigint[]) AND (SELECT count(*) > 0 FROM ended)
    RETURNING e.id
)
SELECT (SELECT count(*) > 0 FROM ended) AS held, (SELECT count(*) FROM deleted) AS deleted
"""

END_CLAIM = "DELETE FROM {claims} WHERE token = $1 AND expires_at > now() RETURNING token"

DELETE_DELIVERED = "DELETE FROM {events} WHERE id = ANY($1::bigint[])"

# ``counted`` is false when the destination was unavailable: the event waits,
# and its first failure is remembered (for ``max_age``), but no attempt is used.
SCHEDULE_RETRY = """
UPDATE {events} e
SET attempts = e.attempts + r.counted::int, available_at = now() + make_interval(secs => r.delay),
    first_failed_at = coalesce(e.first_failed_at, now()), last_failed_at = now(), last_error = r.error
FROM unnest($1::bigint[], $2::float8[], $3::text[], $4::bool[]) AS r(id, delay, error, counted)
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
                    payload, headers, created_at, attempts, lease_expiries, first_failed_at,
                    last_failed_at, error, error_type)
SELECT id, event_id, topic, key, seq, lane, type, aggregate_type, content_type, payload, headers,
       created_at, final_attempts, lease_expiries, coalesce(first_failed_at, now()), now(),
       final_error, final_type
FROM moved
"""

# Lanes that must wait (a keyed retry) or stop (a parked key) get a row; no
# other lane needs one.
HOLD_OR_PARK = """
INSERT INTO {lanes} AS l (lane, available_at, parked_at, parked_event_id, parked_reason)
SELECT r.lane,
       CASE WHEN r.hold IS NULL THEN '-infinity' ELSE now() + make_interval(secs => r.hold) END,
       CASE WHEN r.park_event IS NULL THEN NULL ELSE now() END,
       r.park_event, r.park_reason
FROM unnest($1::text[], $2::float8[], $3::text[], $4::text[]) AS r(lane, hold, park_event, park_reason)
ORDER BY r.lane
ON CONFLICT (lane) DO UPDATE SET
    available_at = CASE WHEN EXCLUDED.available_at = '-infinity' THEN l.available_at
                        ELSE EXCLUDED.available_at END,
    parked_at = coalesce(EXCLUDED.parked_at, l.parked_at),
    parked_event_id = coalesce(EXCLUDED.parked_event_id, l.parked_event_id),
    parked_reason = coalesce(EXCLUDED.parked_reason, l.parked_reason)
"""

# A parked lane's pending events are set aside, so claims never step over them.
SET_ASIDE = """
UPDATE {events} SET parked = true WHERE lane = ANY($1::text[]) AND parked IS NULL
"""

# Events written for a parked key after it parked are set aside too, by the
# janitor; the lanes are locked first so that an unpark or replay running
# meanwhile either comes first (and the lane is not set aside) or waits.
SET_ASIDE_LATE = """
WITH parked AS (
    SELECT lane FROM {lanes} WHERE parked_at IS NOT NULL ORDER BY lane FOR SHARE
)
UPDATE {events} e SET parked = true
FROM parked p WHERE e.lane = p.lane AND e.parked IS NULL
"""

EXTEND = """
UPDATE {claims} SET expires_at = now() + make_interval(secs => $2)
WHERE token = $1 AND expires_at > now()
"""

PURGE_OLD_DEAD = """
DELETE FROM {dead} WHERE id IN (
    SELECT id FROM {dead} WHERE dead_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2)
"""

# A lane row whose hold has passed and that is not parked says nothing.
PURGE_IDLE_LANES = """
DELETE FROM {lanes} WHERE lane IN (
    SELECT lane FROM {lanes} WHERE parked_at IS NULL AND available_at <= now()
    LIMIT $1 FOR UPDATE SKIP LOCKED)
"""
