-- The rejected rows of one import run, in file and line order: one page ($limit rows from
-- $offset; $limit NULL = every row, streamed in chunks for the CSV download), optionally only
-- one file ($file_name) and one rule ($rule). Admin data: analytics.overview checks the role.
SELECT batch_id, file_name, table_name, line_number, column_name, value, rule, raw_row
FROM import_rejects
WHERE batch_id = $batch_id
  AND ($file_name::VARCHAR IS NULL OR file_name = $file_name::VARCHAR)
  AND ($rule::VARCHAR IS NULL OR rule = $rule::VARCHAR)
ORDER BY file_name, line_number, column_name, rule
LIMIT $limit OFFSET $offset
