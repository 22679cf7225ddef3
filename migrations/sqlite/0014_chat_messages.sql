-- Chat notifications: the messages pacer posts to Slack, Microsoft Teams and generic webhooks
-- about deployments, incidents and rollbacks (SQLite). Timestamps are INTEGER UTC milliseconds
-- since the Unix epoch.

-- The outbox. One row per (event, destination): any number of replicas noticing the same event
-- insert it once (the constraint decides), and dispatchers claim due rows with a lease
-- (claimed_until), as rollback deliveries are claimed. The body is rendered once, at insertion,
-- so every attempt sends the same bytes under the same message id.
CREATE TABLE chat_messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_key       TEXT   NOT NULL,   -- `deployment.succeeded:<deployment id>`, `rollback.delivered:<rollback id>`, …
    event           TEXT   NOT NULL,   -- the event kind, `deployment.succeeded`, …
    destination     TEXT   NOT NULL,   -- the [[notify]] rule's name
    message_id      TEXT   NOT NULL,   -- the `webhook-id` of generic webhooks, stable across retries
    service         TEXT   NOT NULL,
    environment     TEXT   NOT NULL,
    body            TEXT   NOT NULL,   -- the JSON sent, identical on every attempt
    state           TEXT   NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'gone')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_status     INTEGER,            -- the HTTP status of the last attempt, if it got an answer
    last_error      TEXT,
    CONSTRAINT chat_messages_once UNIQUE (event_key, destination)
);
CREATE INDEX chat_messages_due ON chat_messages (state, next_attempt_at);

-- How far the notifiers have read: the change log's generation (deployments and incidents) and
-- the time rollback activity was last looked at. Every replica reads from here and moves it
-- forward; reading the same stretch twice inserts nothing twice. A new database starts at its
-- present: what was stored before notifications existed is not announced.
CREATE TABLE chat_cursor (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    facts_generation INTEGER  NOT NULL,
    rollbacks_at     INTEGER  NOT NULL
);
INSERT INTO chat_cursor (id, facts_generation, rollbacks_at)
    SELECT 1, value, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM store_generation WHERE id = 1;

-- Rollback activity is read by time.
CREATE INDEX rollbacks_by_time ON rollbacks (created_at);
