-- Who approved a rollback the manual policy held (SQLite): who called POST
-- /api/v1/rollbacks/{id}/approve (`token:<name>` for a stored token, `api_token` for the
-- configured one, `api` when the route needs no token), or `slack:<user id>` for the Slack bot's
-- `approve`. NULL for rollbacks that needed no approval, and for those
-- approved before this column existed.
ALTER TABLE rollbacks ADD COLUMN approved_by TEXT;
