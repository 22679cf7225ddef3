-- API tokens, created with `pacer token create` and checked on every API request by scope.
-- Only the SHA-256 of a token is stored: a token is 32 random bytes, so a fast unsalted hash is
-- as strong as a slow salted one here (no dictionary to try), and it lets a request find its
-- token by an indexed equality lookup. Rows are never deleted: a revoked token keeps its row, so
-- its name stays taken and `pacer token list` shows when it was revoked.
-- Timestamps are INTEGER UTC milliseconds since the Unix epoch.

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,  -- chosen by the operator, unique, used to revoke it
    token_hash   TEXT    NOT NULL,  -- hex SHA-256 of the token
    prefix       TEXT    NOT NULL,  -- the token's first characters, to recognize it in a list
    scopes       TEXT    NOT NULL,  -- comma-separated: ingest, read, admin
    created_at   INTEGER  NOT NULL,
    expires_at   INTEGER,            -- NULL: never
    revoked_at   INTEGER,            -- NULL: active
    last_used_at INTEGER,            -- updated at most once a minute
    CONSTRAINT api_tokens_name_unique UNIQUE (name),
    CONSTRAINT api_tokens_hash_unique UNIQUE (token_hash)
);
