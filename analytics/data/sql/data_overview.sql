-- What is loaded, for the home page: counts and date range of the viewer's clients.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
)
SELECT
    (SELECT count(*) FROM cohort)::BIGINT AS clients,
    (SELECT count(DISTINCT clinic) FROM cohort)::BIGINT AS clinics,
    (SELECT count(DISTINCT therapist_id) FROM cohort)::BIGINT AS therapists,
    (SELECT count(*) FROM sessions JOIN cohort USING (client_id))::BIGINT AS sessions,
    (SELECT count(*) FROM assignments JOIN cohort USING (client_id))::BIGINT AS assignments,
    (SELECT count(*) FROM scores JOIN cohort USING (client_id))::BIGINT AS scores,
    (SELECT min(intake_date) FROM cohort) AS first_intake,
    (SELECT greatest(max(intake_date), max(discharge_date)) FROM cohort) AS last_client_date,
    (SELECT max(administered_date) FROM scores JOIN cohort USING (client_id)) AS last_score_date
