-- Therapists of the cohort (the viewer's scope and filters): the number of distinct therapist ids
-- of its clients, one row (column therapists, INTEGER). The quality-improvement report compares
-- therapists only up to a number of them (analytics.quality_improvement.model.MAX_COMPARED_THERAPISTS).
WITH therapists AS (
    SELECT DISTINCT therapist_id
    FROM cohort_clients($cohort)
    WHERE therapist_id IS NOT NULL
)
SELECT count(*)::INTEGER AS therapists
FROM therapists
