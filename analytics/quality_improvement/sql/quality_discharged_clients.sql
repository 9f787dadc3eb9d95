-- The cohort's clients discharged in a reporting period ($period_start .. $period_end,
-- both DATEs, inclusive): the denominators of the end-of-treatment outcomes.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
)
SELECT client_id, clinic, therapist_id, program, discharge_date
FROM cohort
WHERE discharge_date BETWEEN $period_start::DATE AND $period_end::DATE
ORDER BY client_id
