-- Revert commits, for the rework rate (a deployment that first ships a commit whose message's
-- first line begins with `Revert "` is rework). A partial index holds just those commits, so an
-- analysis reads them without scanning every message. `substr` rather than LIKE: SQLite's LIKE
-- ignores ASCII case, and the prefix is exact. Queries must spell the predicate as here for the
-- planner to use the index.
CREATE INDEX commits_reverts ON commits (sha) WHERE substr(message, 1, 8) = 'Revert "';
