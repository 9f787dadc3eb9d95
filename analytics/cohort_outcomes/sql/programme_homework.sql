-- A programme's (cohort's) clients and the median of their homework quantity and quality,
-- aggregated here so only one row reaches Python. Client values: client_homework_rows
-- (the same definition as client_homework.sql). Medians interpolate like pandas' median.
WITH cohort AS (
    SELECT client_id FROM cohort_clients($cohort)
),
homework AS (
    SELECT * FROM client_homework_rows($cohort, $homework_types::VARCHAR[],
                                       unreviewed_as_not_done := $unreviewed_as_not_done::BOOLEAN)
)
SELECT
    (SELECT count(*) FROM cohort)::BIGINT AS clients,        -- clients in the programme
    count(quantity)::BIGINT AS clients_with_quantity,        -- with at least one reviewed assignment
    median(quantity) AS median_quantity,                     -- 0-1
    count(quality)::BIGINT AS clients_with_quality,          -- with at least one quality rating
    median(quality) AS median_quality                        -- 0-1
FROM homework
