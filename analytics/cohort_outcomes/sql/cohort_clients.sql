-- The clients of a cohort, as the viewer may see them: one row per client.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
)
SELECT client_id, clinic, therapist_id, program, primary_concern, intake_date, discharge_date
FROM cohort
ORDER BY client_id
