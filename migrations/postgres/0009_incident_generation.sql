-- Row 3 of store_generation counts changes to incidents alone. CI runs and SLI samples move row 1
-- but not the analysis (deployments, commits, pull requests: row 2; incidents: row 3), so a busy
-- CI no longer makes every DORA query re-attribute failures. Row 3 starts at row 1's value.
ALTER TABLE store_generation DROP CONSTRAINT store_generation_id_check;
ALTER TABLE store_generation ADD CONSTRAINT store_generation_id_check CHECK (id IN (1, 2, 3));
INSERT INTO store_generation (id, value) SELECT 3, value FROM store_generation WHERE id = 1;
