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

-- Lane rows now exist only while a lane is held shut for a retry or parked.
DELETE FROM {lanes} WHERE parked_at IS NULL AND available_at <= now();
ALTER TABLE {lanes}
    DROP COLUMN owner,
    DROP COLUMN token,
    DROP COLUMN lease_expires_at,
    DROP COLUMN claimed_at,
    DROP COLUMN claimed_ids,
    DROP COLUMN version;
