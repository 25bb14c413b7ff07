-- Times are seconds since the Unix epoch (REAL), always taken from SQLite's own clock.
CREATE TABLE {events} (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT    NOT NULL,
    topic           TEXT    NOT NULL,
    key             TEXT,
    seq             INTEGER,
    lane            TEXT    NOT NULL,
    type            TEXT    NOT NULL DEFAULT '',
    aggregate_type  TEXT    NOT NULL DEFAULT '',
    content_type    TEXT    NOT NULL,
    payload         BLOB    NOT NULL,
    headers         TEXT    NOT NULL DEFAULT '{{}}',
    created_at      REAL    NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    available_at    REAL    NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    first_failed_at REAL,
    last_failed_at  REAL,
    last_error      TEXT
);
CREATE INDEX {events}_lane_order ON {events} (lane, seq, id);

CREATE TABLE {keys} (
    key      TEXT    PRIMARY KEY,
    last_seq INTEGER NOT NULL
);

CREATE TABLE {lanes} (
    lane             TEXT PRIMARY KEY,
    owner            TEXT,
    token            INTEGER,
    lease_expires_at REAL,
    claimed_at       REAL,
    claimed_ids      TEXT,
    version          INTEGER NOT NULL DEFAULT 0,
    available_at     REAL NOT NULL DEFAULT 0,
    parked_at        REAL,
    parked_event_id  TEXT,
    parked_reason    TEXT
);

CREATE TABLE {tokens} (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO {tokens} (id, value) VALUES (1, 0);

CREATE TABLE {dead} (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    row_id          INTEGER NOT NULL,
    event_id        TEXT    NOT NULL,
    topic           TEXT    NOT NULL,
    key             TEXT,
    seq             INTEGER,
    lane            TEXT    NOT NULL,
    type            TEXT    NOT NULL,
    aggregate_type  TEXT    NOT NULL,
    content_type    TEXT    NOT NULL,
    payload         BLOB    NOT NULL,
    headers         TEXT    NOT NULL,
    created_at      REAL    NOT NULL,
    attempts        INTEGER NOT NULL,
    first_failed_at REAL,
    last_failed_at  REAL,
    error           TEXT    NOT NULL,
    error_type      TEXT    NOT NULL,
    dead_at         REAL    NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
);
CREATE INDEX {dead}_dead_at ON {dead} (dead_at);
CREATE INDEX {dead}_lane ON {dead} (lane, seq, id);
