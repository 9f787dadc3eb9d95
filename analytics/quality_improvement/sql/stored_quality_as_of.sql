-- The "as of" date and first intake of the viewer's scope (as quality_as_of.sql), read from the
-- dates stored at import per clinic (analytics/stored.py, store_clinic_dates: the table macro
-- clinic_dates over the whole network) for a scope made of whole clinics: the network, or the
-- viewer's clinics (stored_clinic_in_scope; a therapist's caseload reads nothing here and
-- quality_as_of.sql computes it). The latest of the clinics' latest dates is the scope's latest.
WITH scoped_clinics AS (
    SELECT s.latest_session, s.latest_score, s.first_intake
    FROM stored_clinic_dates AS s
    WHERE stored_clinic_in_scope($cohort, s.clinic)
)
SELECT
    greatest(max(latest_session), max(latest_score)) AS as_of,  -- DATE, NULL when no data
    min(first_intake) AS first_intake                           -- DATE, start of "all months"
FROM scoped_clinics
