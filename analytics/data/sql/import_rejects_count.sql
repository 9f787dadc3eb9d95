-- How many rule violations and rejected rows one import run has (same filters as
-- import_rejects.sql). Admin data: analytics.overview checks the role.
SELECT count(*)::BIGINT AS violations,
       count(DISTINCT (file_name, line_number))::BIGINT AS rejected_rows
FROM import_rejects
WHERE batch_id = $batch_id
  AND ($file_name::VARCHAR IS NULL OR file_name = $file_name::VARCHAR)
  AND ($rule::VARCHAR IS NULL OR rule = $rule::VARCHAR)
