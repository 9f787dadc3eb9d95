-- Import runs, newest first (counts are rows; files is the JSON list of files with SHA-256).
SELECT batch_id, started_at, finished_at, source, profile, rows_read, rows_inserted, rows_updated,
       rows_unchanged, rows_rejected, files_refused, files
FROM import_batches
ORDER BY batch_id DESC
LIMIT $limit
