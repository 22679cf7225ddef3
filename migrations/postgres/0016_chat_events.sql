-- Chat events that are not facts (PostgreSQL): an SLO burning at page or ticket level, the deploy
-- gate halting a rollout, a team's weekly digest. The SLO evaluator, the gate and the report
-- scheduler record them here; the chat notifiers read them from here by time, as they read
-- rollback activity, and store one message per event and destination in chat_messages.
-- Timestamps are BIGINT UTC milliseconds since the Unix epoch.
CREATE TABLE chat_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_key   TEXT    NOT NULL UNIQUE, -- `slo.page:<slo>@<ms>`, `gate.halted:<answer id>`, `digest.weekly:<week>:<team>`
    kind        TEXT    NOT NULL,        -- `slo.page`, `slo.ticket`, `gate.halted`, `digest.weekly`
    service     TEXT    NOT NULL,        -- empty for a digest
    environment TEXT    NOT NULL,
    team        TEXT,
    at          BIGINT  NOT NULL,        -- when it happened
    subject     TEXT    NOT NULL,        -- JSON: what the message tells (the burn, the gate's answer, the keys)
    episode     TEXT,                    -- what lasts (`slo.page:<slo>`): one event while it is open
    ended_at    BIGINT,                  -- when the episode ended
    created_at  BIGINT  NOT NULL
);
-- While an episode is open a second event of it is not recorded, whichever replica tries.
CREATE UNIQUE INDEX chat_events_open_episode ON chat_events (episode) WHERE episode IS NOT NULL AND ended_at IS NULL;
CREATE INDEX chat_events_by_time ON chat_events (created_at);
