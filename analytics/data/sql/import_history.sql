-- Import runs, newest first (counts are rows; files is the JSON list of files with SHA-256).
-- rows_removed and mode (snapshot imports) come last; a database from before them lacks both.
SELECT *
FROM import_batches
ORDER BY batch_id DESC
LIMIT $limit
