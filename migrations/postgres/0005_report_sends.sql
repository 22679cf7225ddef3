-- The weekly report's sent-log: one row per (ISO week, team, recipient), whatever the number of
-- scheduler ticks, restarts or replicas — the primary key, not a check, makes a send happen once.
-- A scheduler enqueues the rows of a week with INSERT … ON CONFLICT DO NOTHING, then claims due
-- rows with a lease (claimed_until), as the rollback outbox does: a sender that dies mid-send
-- leaves an expired lease and the row is claimed again.

CREATE TABLE report_sends (
    week            TEXT    NOT NULL,           -- ISO week, 2026-W47
    team            TEXT    NOT NULL,           -- a team, or '*' for the report on every team
    recipient       TEXT    NOT NULL,           -- the address, as configured
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,           -- epoch ms
    claimed_until   BIGINT,                     -- a sender's lease; expired leases are re-claimed
    message_id      TEXT    NOT NULL,           -- the Message-ID header, the same on every attempt
    last_error      TEXT,
    created_at      BIGINT  NOT NULL,
    sent_at         BIGINT,
    CONSTRAINT report_sends_once PRIMARY KEY (week, team, recipient)
);
CREATE INDEX report_sends_due ON report_sends (state, next_attempt_at);
