-- How many clients a cohort has, as the viewer may see them (one row, one number).
WITH cohort AS (
    SELECT client_id FROM cohort_clients($cohort)
)
SELECT count(*)::BIGINT AS clients
FROM cohort
