-- Webhook deliveries (GitHub, GitLab, CDEvents, PagerDuty), and what pull requests learn from them
-- (PostgreSQL). Timestamps are BIGINT UTC milliseconds since the Unix epoch.

-- One row per delivery that produced facts, keyed by the sender's delivery id: a redelivery is
-- answered without storing its facts again, and the payload is kept so `pacer recompute` can
-- rebuild the facts. stored_at stays NULL until the delivery's facts are stored, so a delivery
-- whose facts never were (pacer stopped in between) is processed again when it is redelivered.
CREATE TABLE webhook_deliveries (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      TEXT    NOT NULL,   -- github, gitlab, cdevents, pagerduty
    delivery_id TEXT    NOT NULL,   -- X-GitHub-Delivery, …; a hash of the body when the sender sends none
    event       TEXT    NOT NULL,   -- the event type the payload is parsed as
    received_at BIGINT  NOT NULL,
    stored_at   BIGINT,             -- when its facts were stored
    facts       BIGINT  NOT NULL DEFAULT 0,
    payload     TEXT    NOT NULL,   -- the JSON payload (for CDEvents, the CDEvent itself)
    CONSTRAINT webhook_deliveries_unique UNIQUE (source, delivery_id)
);

-- The branch heads a pull request was last seen with, so that its first commit can be found in the
-- commit graph when the sender does not give first_commit_at (PRODUCT.md §4).
ALTER TABLE pull_requests ADD COLUMN head_sha TEXT;
ALTER TABLE pull_requests ADD COLUMN base_sha TEXT;
