-- Header of one client (Client review page): the client row the viewer may see (no row when
-- the client is unknown or out of scope: both read as "not found"), plus session counts.
-- Sessions up to $as_of are "scheduled" (attended or missed); later ones are upcoming.
-- weeks_in_treatment = whole weeks (7 days) from intake_date to discharge_date, or to $as_of
-- while in treatment; never negative (docs/metrics.md, "Client review").
WITH client AS (
    SELECT *
    FROM scoped_client($cohort, $client_id::VARCHAR)
),
client_sessions AS (
    SELECT s.session_date, s.attended
    FROM sessions AS s
    JOIN client USING (client_id)
    WHERE s.client_id = $client_id::VARCHAR
),
session_counts AS (
    SELECT
        count(*) FILTER (WHERE session_date <= $as_of::DATE)::BIGINT AS sessions_scheduled,
        count(*) FILTER (WHERE session_date <= $as_of::DATE AND attended IS TRUE)::BIGINT AS sessions_attended,
        count(*) FILTER (WHERE session_date > $as_of::DATE)::BIGINT AS sessions_upcoming,
        max(session_date) FILTER (WHERE session_date <= $as_of::DATE) AS last_session_date,
        max(session_date) FILTER (WHERE session_date <= $as_of::DATE AND attended IS TRUE) AS last_attended_date,
        min(session_date) FILTER (WHERE session_date > $as_of::DATE) AS next_session_date
    FROM client_sessions
)
SELECT
    c.client_id, c.clinic, c.therapist_id, c.program, c.primary_concern, c.intake_date, c.discharge_date,
    sc.sessions_scheduled, sc.sessions_attended, sc.sessions_upcoming,
    sc.last_session_date, sc.last_attended_date, sc.next_session_date,
    greatest(0, weeks_since_intake(c.intake_date, coalesce(c.discharge_date, $as_of::DATE)))
        AS weeks_in_treatment
FROM client AS c
CROSS JOIN session_counts AS sc
