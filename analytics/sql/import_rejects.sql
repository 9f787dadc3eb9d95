-- The rejected rows of one import run, in file and line order.
SELECT batch_id, file_name, table_name, line_number, column_name, value, rule, raw_row
FROM import_rejects
WHERE batch_id = $batch_id
ORDER BY file_name, line_number, column_name
