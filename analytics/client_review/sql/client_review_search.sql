-- Client search for the Client review page: the clients of a cohort (scope + clinic /
-- therapist / programme filters) whose id contains the search text (case-insensitive).
-- Prefix matches first, then by id; at most $limit rows. total_matches counts every match.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
matches AS (
    SELECT
        client_id, clinic, therapist_id, program, intake_date, discharge_date,
        starts_with(lower(client_id), lower($search::VARCHAR)) AS prefix_match
    FROM cohort
    WHERE $search::VARCHAR IS NULL OR contains(lower(client_id), lower($search::VARCHAR))
)
SELECT
    client_id, clinic, therapist_id, program, intake_date, discharge_date,
    count(*) OVER ()::BIGINT AS total_matches
FROM matches
ORDER BY prefix_match DESC, client_id
LIMIT $limit
