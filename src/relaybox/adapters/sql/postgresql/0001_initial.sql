-- The outbox: pending events, deleted once delivered.
CREATE TABLE {events} (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        text        NOT NULL,
    topic           text        NOT NULL,
    key             text,
    seq             bigint,
    lane            text        NOT NULL,
    type            text        NOT NULL DEFAULT '',
    aggregate_type  text        NOT NULL DEFAULT '',
    content_type    text        NOT NULL,
    payload         bytea       NOT NULL,
    headers         text        NOT NULL DEFAULT '{{}}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    available_at    timestamptz NOT NULL DEFAULT '-infinity',
    attempts        integer     NOT NULL DEFAULT 0,
    first_failed_at timestamptz,
    last_failed_at  timestamptz,
    last_error      text
);
-- Claims read each lane in order: by sequence for a key, by id otherwise.
CREATE INDEX {events}_lane_order ON {events} (lane, seq, id);

-- Per-key sequence, bumped in the producing transaction: the row lock it takes
-- serialises writers of one key until commit, so sequence order is commit order.
CREATE TABLE {keys} (
    key      text   PRIMARY KEY,
    last_seq bigint NOT NULL
);

-- Relay state per lane: lease (owner, fencing token, expiry, the events it handed out),
-- retry gate, parking.
-- Writers never touch it, so a business transaction never waits on a relay.
CREATE TABLE {lanes} (
    lane             text        PRIMARY KEY,
    owner            text,
    token            bigint,
    lease_expires_at timestamptz,
    claimed_at       timestamptz,
    claimed_ids      bigint[],
    version          bigint      NOT NULL DEFAULT 0,
    available_at     timestamptz NOT NULL DEFAULT '-infinity',
    parked_at        timestamptz,
    parked_event_id  text,
    parked_reason    text
);

CREATE SEQUENCE {tokens};

-- Events that failed for good, with their error, attempts and timestamps. ``row_id``
-- is the event's id in the outbox (numbers can repeat after a restore, so it is no key).
CREATE TABLE {dead} (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    row_id          bigint      NOT NULL,
    event_id        text        NOT NULL,
    topic           text        NOT NULL,
    key             text,
    seq             bigint,
    lane            text        NOT NULL,
    type            text        NOT NULL,
    aggregate_type  text        NOT NULL,
    content_type    text        NOT NULL,
    payload         bytea       NOT NULL,
    headers         text        NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL,
    first_failed_at timestamptz,
    last_failed_at  timestamptz,
    error           text        NOT NULL,
    error_type      text        NOT NULL,
    dead_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX {dead}_dead_at ON {dead} (dead_at);
CREATE INDEX {dead}_lane ON {dead} (lane, seq, id);
