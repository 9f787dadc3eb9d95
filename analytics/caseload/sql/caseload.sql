-- Caseload (docs/metrics.md, "Caseload"): the ACTIVE clients of the viewer's scope on $as_of
-- (DATE, the data's as-of date): intake on or before it and no discharge, or a discharge after it
-- (the same clients as the not-on-track alerts, quality_alert_clients.sql). One row per client
-- and measure (measure NULL for a client with no score), every score on or before $as_of:
--   n_scores, first_date / first_score (earliest), last_date / last_score (latest), and
--   days_since_score = days from last_date to $as_of;
-- per client: weeks_since_intake = whole weeks (floor(days / 7)) from intake to $as_of;
--   last_contact_date = the latest ATTENDED session on or before $as_of (NULL when none) and
--   days_since_contact; homework of the assignments set from $homework_from to $as_of (the last
--   4 weeks) inside the treatment window (macro in_treatment_window): homework_set, homework_reviewed
--   (with a quantity fraction), homework_quantity (mean of counted_quantity(quantity_fraction, ...)
--   as client_homework_rows, 0-1, NULL when none counted) and homework_reviewed_share
--   (reviewed / set, NULL when none set).
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
active AS (
    SELECT client_id, clinic, therapist_id, program, intake_date, discharge_date
    FROM cohort
    WHERE open_on(intake_date, discharge_date, $as_of::DATE)
),
measure_scores AS (
    SELECT
        s.client_id,
        s.measure,
        count(*)::BIGINT AS n_scores,
        min(s.administered_date) AS first_date,
        arg_min(s.total_score, s.administered_date) AS first_score,
        max(s.administered_date) AS last_date,
        arg_max(s.total_score, s.administered_date) AS last_score
    FROM scores AS s
    JOIN active USING (client_id)
    WHERE s.administered_date <= $as_of::DATE
    GROUP BY s.client_id, s.measure
),
recent_homework AS (
    SELECT
        a.client_id,
        count(*)::BIGINT AS homework_set,
        count(quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices))::BIGINT
            AS homework_reviewed,
        avg(counted_quantity(quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices),
                             $unreviewed_as_not_done::BOOLEAN)) AS homework_quantity
    FROM assignments AS a
    JOIN active AS act USING (client_id)
    WHERE a.assigned_date BETWEEN $homework_from::DATE AND $as_of::DATE
      AND in_treatment_window(a.assigned_date, act.intake_date, act.discharge_date)
    GROUP BY a.client_id
),
contact AS (
    SELECT s.client_id, max(s.session_date) AS last_contact_date
    FROM sessions AS s
    JOIN active USING (client_id)
    WHERE s.attended IS TRUE AND s.session_date <= $as_of::DATE
    GROUP BY s.client_id
)
SELECT
    act.client_id,
    act.clinic,
    act.therapist_id,
    act.program,
    act.intake_date,
    date_diff('day', act.intake_date, $as_of::DATE)::BIGINT AS days_since_intake,
    weeks_since_intake(act.intake_date, $as_of::DATE) AS weeks_since_intake,
    c.last_contact_date,
    date_diff('day', c.last_contact_date, $as_of::DATE)::BIGINT AS days_since_contact,
    coalesce(h.homework_set, 0)::BIGINT AS homework_set,
    coalesce(h.homework_reviewed, 0)::BIGINT AS homework_reviewed,
    h.homework_quantity,
    h.homework_reviewed / nullif(h.homework_set, 0) AS homework_reviewed_share,
    ms.measure,
    ms.n_scores,
    ms.first_date,
    ms.first_score,
    ms.last_date,
    ms.last_score,
    date_diff('day', ms.last_date, $as_of::DATE)::BIGINT AS days_since_score
FROM active AS act
LEFT JOIN measure_scores AS ms USING (client_id)
LEFT JOIN recent_homework AS h USING (client_id)
LEFT JOIN contact AS c USING (client_id)
ORDER BY act.client_id, ms.measure
