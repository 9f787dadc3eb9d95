-- The files and rules of one import run's rejects, for the filters: the $limit most frequent
-- of each kind, with their number of violations. Admin data: analytics.overview checks the role.
SELECT kind, value, violations FROM (
    SELECT 'file' AS kind, file_name AS value, count(*) AS violations
    FROM import_rejects WHERE batch_id = $batch_id GROUP BY file_name
    UNION ALL
    SELECT 'rule' AS kind, rule AS value, count(*) AS violations
    FROM import_rejects WHERE batch_id = $batch_id GROUP BY rule
)
QUALIFY row_number() OVER (PARTITION BY kind ORDER BY violations DESC, value) <= $limit
ORDER BY kind, violations DESC, value
