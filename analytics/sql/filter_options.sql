-- Values a viewer can pick in the cohort filters, from the clients they may see.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
)
SELECT 'clinic' AS field, clinic AS value FROM cohort WHERE clinic IS NOT NULL GROUP BY ALL
UNION ALL
SELECT 'therapist', therapist_id FROM cohort WHERE therapist_id IS NOT NULL GROUP BY ALL
UNION ALL
SELECT 'program', program FROM cohort WHERE program IS NOT NULL GROUP BY ALL
UNION ALL
SELECT 'concern', primary_concern FROM cohort WHERE primary_concern IS NOT NULL GROUP BY ALL
UNION ALL
SELECT 'measure', s.measure FROM scores AS s JOIN cohort USING (client_id) GROUP BY ALL
UNION ALL
SELECT 'homework_type', a.homework_type FROM assignments AS a JOIN cohort USING (client_id) GROUP BY ALL
ORDER BY field, value
