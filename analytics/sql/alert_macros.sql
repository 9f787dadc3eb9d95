-- Per-client flags of the clients in treatment on a date, counted in the database whatever the size
-- of the caseload (docs/metrics.md, "Alerts: clients not on track" and "Caseload"). Loaded after
-- outcome_macros.sql (they use classified_outcomes and course_tracks). Both macros start from the
-- scoped cohort (cohort_clients(cohort), tests/test_access.py).
--
-- Parameters, bound by the callers (analytics.quality_improvement.model, analytics.caseload.model):
--   cohort: the viewer's scope and filters ($cohort); as_of: DATE, the report's as-of date;
--   window_start: DATE, the first day of the homework window (the 28 days ending on as_of);
--   risk_measure: the measure whose item 9 is the risk item (PHQ-9); baseline_days: INTEGER
--   (score_period); unreviewed_as_not_done: BOOLEAN (counted_quantity); measures / homework_types:
--   the cohort's measure and homework-type filters (NULL = all); definitions: the configured
--   measures (Settings.measure_definitions(), outcome_macros.sql); curves: the fitted expected
--   curves (analytics.expected_response.curves_parameter, course_tracks); not_on_track_weeks: INTEGER.

-- The quality-improvement alert rule, one row per client in treatment on as_of (open_on): intake on
-- or before it, no discharge or a later one. Scores: the 'treatment' scores (score_period) on or
-- before as_of on the configured measures (and the measure filter); per measure the first (baseline)
-- and latest score, classified by classified_outcomes. A client is not on track when any of:
--   rule_caseness: on a measure WITHOUT an expected curve, at least not_on_track_weeks weeks since
--     intake (days / 7), at caseness at the latest score (the first when it is the only one) and no
--     reliable improvement;
--   rule_off_track: on a measure WITH an expected curve, the latest treatment score is off track
--     (course_tracks: the same open clients' treatment scores up to as_of);
--   rule_deterioration: reliable deterioration on a measure (latest vs first score);
--   rule_risk: item 9 of the latest risk_measure score on or before as_of above 0 (whatever the
--     measure filter; a score without item values cannot raise it). risk_date: that score's date.
-- reasons: the rules met, risk first ("<risk_measure> item 9 above 0 (date)"), then per measure in
-- name order "<m>: at caseness, no reliable improvement", "<m>: off track since week W (expected
-- course)", "<m>: reliable deterioration", joined by "; " ('' when none). latest_scores: "<m> <latest
-- score> (<date>)" per scored measure, joined by "; ". Homework of the assignments set from
-- window_start to as_of inside the treatment window (in_treatment_window; the homework-type filter):
-- recent_assignments (set), recent_reviewed (with a quantity fraction), recent_quantity (mean of
-- counted_quantity, 0-1, NULL when none counted). weeks_in_treatment = days since intake / 7.
CREATE OR REPLACE MACRO alert_client_rows(cohort, as_of, window_start, risk_measure, baseline_days,
                                          unreviewed_as_not_done, measures, homework_types, definitions, curves,
                                          not_on_track_weeks) AS TABLE
    WITH open_clients AS (
        SELECT client_id, clinic, therapist_id, program, intake_date, discharge_date
        FROM cohort_clients(cohort)
        WHERE open_on(intake_date, discharge_date, as_of::DATE)
    ),
    configured AS (
        SELECT unnest(list_transform(definitions, lambda d: struct_extract(d, 'name'))) AS measure
    ),
    with_curve AS (
        SELECT unnest(list_transform(curves, lambda k: struct_extract(k, 'measure'))) AS measure
    ),
    treatment_scores AS (
        SELECT
            s.client_id,
            s.measure,
            s.administered_date,
            date_diff('day', o.intake_date, s.administered_date)::BIGINT AS days,
            weeks_since_intake(o.intake_date, s.administered_date) AS week,
            s.total_score::DOUBLE AS total_score
        FROM scores AS s
        JOIN open_clients AS o USING (client_id)
        WHERE s.administered_date <= as_of::DATE
          AND score_period(s.administered_date, o.intake_date, o.discharge_date, baseline_days::INTEGER) = 'treatment'
          AND s.measure IN (SELECT measure FROM configured)
    ),
    measure_scores AS (
        SELECT
            client_id,
            measure,
            min(administered_date) AS first_date,
            arg_min(total_score, administered_date) AS first_score,
            max(administered_date) AS last_date,
            arg_max(total_score, administered_date) AS last_score
        FROM treatment_scores
        WHERE measures IS NULL OR list_contains(measures, measure)
        GROUP BY client_id, measure
    ),
    classified AS (
        SELECT * FROM classified_outcomes(measure_scores, definitions)
    ),
    course_scores AS (
        SELECT * FROM treatment_scores WHERE measure IN (SELECT measure FROM with_curve)
    ),
    tracks AS (
        SELECT * FROM course_tracks(course_scores, curves)
    ),
    measure_rules AS (
        SELECT
            c.client_id,
            c.measure,
            c.last_date,
            c.last_score,
            date_diff('day', o.intake_date, as_of::DATE) / 7.0 >= not_on_track_weeks
                AND coalesce(CASE WHEN c.paired THEN c.caseness_at_last ELSE c.caseness_at_first END, false)
                AND NOT coalesce(c.reliable_improvement, false)
                AND c.measure NOT IN (SELECT measure FROM with_curve) AS m_caseness,
            coalesce(t.status = 'off_track', false) AS m_off_track,
            coalesce(c.reliable_deterioration, false) AS m_deterioration,
            t.since_week
        FROM classified AS c
        JOIN open_clients AS o USING (client_id)
        LEFT JOIN tracks AS t USING (client_id, measure)
    ),
    per_client AS (
        SELECT
            client_id,
            bool_or(m_caseness) AS rule_caseness,
            bool_or(m_off_track) AS rule_off_track,
            bool_or(m_deterioration) AS rule_deterioration,
            string_agg(nullif(concat_ws('; ',
                CASE WHEN m_caseness THEN measure || ': at caseness, no reliable improvement' END,
                CASE WHEN m_off_track THEN measure || ': off track since week ' || since_week || ' (expected course)' END,
                CASE WHEN m_deterioration THEN measure || ': reliable deterioration' END), ''), '; ' ORDER BY measure)
                AS measure_reasons,
            string_agg(measure || ' ' || trunc(last_score)::BIGINT || ' (' || strftime(last_date, '%Y-%m-%d') || ')',
                       '; ' ORDER BY measure) AS latest_scores
        FROM measure_rules
        GROUP BY client_id
    ),
    risk_items AS (  -- the risk item is checked whatever the measure filter says
        SELECT
            s.client_id,
            max(s.administered_date) AS risk_date,
            arg_max_null(s.item_9, s.administered_date) AS risk_item_9  -- NULL when the latest score has no items
        FROM scores AS s
        JOIN open_clients USING (client_id)
        WHERE s.administered_date <= as_of::DATE AND s.measure = risk_measure::VARCHAR
        GROUP BY s.client_id
    ),
    recent_homework AS (
        SELECT
            a.client_id,
            count(*)::BIGINT AS recent_assignments,
            count(quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices))::BIGINT
                AS recent_reviewed,
            avg(counted_quantity(quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices),
                                 unreviewed_as_not_done::BOOLEAN) ORDER BY a.assignment_id) AS recent_quantity
        FROM assignments AS a
        JOIN open_clients AS o USING (client_id)
        WHERE a.assigned_date BETWEEN window_start::DATE AND as_of::DATE
          AND in_treatment_window(a.assigned_date, o.intake_date, o.discharge_date)
          AND (homework_types IS NULL OR list_contains(homework_types, a.homework_type))
        GROUP BY a.client_id
    ),
    flagged AS (
        SELECT
            o.*,
            date_diff('day', o.intake_date, as_of::DATE) / 7.0 AS weeks_in_treatment,
            coalesce(p.rule_caseness, false) AS rule_caseness,
            coalesce(p.rule_off_track, false) AS rule_off_track,
            coalesce(p.rule_deterioration, false) AS rule_deterioration,
            coalesce(r.risk_item_9 > 0, false) AS rule_risk,
            r.risk_date,
            r.risk_item_9,
            p.measure_reasons,
            coalesce(p.latest_scores, '') AS latest_scores,
            coalesce(h.recent_assignments, 0)::BIGINT AS recent_assignments,
            coalesce(h.recent_reviewed, 0)::BIGINT AS recent_reviewed,
            h.recent_quantity
        FROM open_clients AS o
        LEFT JOIN per_client AS p USING (client_id)
        LEFT JOIN risk_items AS r USING (client_id)
        LEFT JOIN recent_homework AS h USING (client_id)
    )
    SELECT
        * EXCLUDE (measure_reasons),
        rule_caseness OR rule_off_track OR rule_deterioration OR rule_risk AS not_on_track,
        coalesce(concat_ws('; ',
            CASE WHEN rule_risk THEN risk_measure || ' item 9 above 0 (' || strftime(risk_date, '%Y-%m-%d') || ')' END,
            measure_reasons), '') AS reasons
    FROM flagged;

-- The caseload (docs/metrics.md, "Caseload"): one row per ACTIVE client on as_of (the alert rule's
-- clients, alert_client_rows with no measure or homework-type filter and window_start =
-- homework_from), with the alert rule's risk, deterioration, not_on_track and reasons, and:
--   days_since_intake, weeks_since_intake (whole weeks, weeks_since_intake);
--   last_contact_date = the latest ATTENDED session on or before as_of (NULL when none),
--   days_since_contact, no_contact = no_recent_contact(days_since_contact, days_since_intake,
--   no_contact_days);
--   homework over the last 4 weeks (the alert rule's window): homework_set, homework_reviewed,
--   homework_quantity, homework_reviewed_share (reviewed / set, NULL when none set);
--   overdue_measures: the configured measures the client has a score of (any score on or before
--   as_of) whose latest is overdue_days days or more before as_of, in the settings' order, joined by
--   ', '; 'no measure recorded' for a client with no such score overdue_days or more after intake;
--   '' otherwise. measures_overdue = overdue_measures <> '';
--   need_rank: the first that applies: 1 risk, 2 reliable deterioration, 3 not on track, 4
--   measures overdue, 5 no recent contact, 6 none (the sort order, by client id within each).
CREATE OR REPLACE MACRO caseload_client_rows(cohort, as_of, homework_from, risk_measure, baseline_days,
                                             unreviewed_as_not_done, definitions, curves, not_on_track_weeks,
                                             overdue_days, no_contact_days) AS TABLE
    WITH alerts AS (
        SELECT *
        FROM alert_client_rows(cohort, as_of, homework_from, risk_measure, baseline_days, unreviewed_as_not_done,
                               NULL, NULL, definitions, curves, not_on_track_weeks)
    ),
    configured AS (
        SELECT list_transform(definitions, lambda d: struct_extract(d, 'name')) AS names
    ),
    latest_scores AS (
        SELECT s.client_id, s.measure, max(s.administered_date) AS last_date
        FROM scores AS s
        JOIN alerts USING (client_id)
        WHERE s.administered_date <= as_of::DATE
          AND list_contains((SELECT names FROM configured), s.measure)
        GROUP BY s.client_id, s.measure
    ),
    overdue AS (
        SELECT
            client_id,
            string_agg(measure, ', ' ORDER BY list_position((SELECT names FROM configured), measure))
                FILTER (WHERE date_diff('day', last_date, as_of::DATE) >= overdue_days) AS overdue_measures
        FROM latest_scores
        GROUP BY client_id
    ),
    contact AS (
        SELECT se.client_id, max(se.session_date) AS last_contact_date
        FROM sessions AS se
        JOIN alerts USING (client_id)
        WHERE se.attended IS TRUE AND se.session_date <= as_of::DATE
        GROUP BY se.client_id
    ),
    rows AS (
        SELECT
            a.client_id,
            a.clinic,
            a.therapist_id,
            a.program,
            a.intake_date,
            date_diff('day', a.intake_date, as_of::DATE)::BIGINT AS days_since_intake,
            weeks_since_intake(a.intake_date, as_of::DATE) AS weeks_since_intake,
            c.last_contact_date,
            date_diff('day', c.last_contact_date, as_of::DATE)::BIGINT AS days_since_contact,
            a.recent_assignments AS homework_set,
            a.recent_reviewed AS homework_reviewed,
            a.recent_quantity AS homework_quantity,
            a.recent_reviewed / nullif(a.recent_assignments, 0) AS homework_reviewed_share,
            a.rule_risk AS risk,
            a.rule_deterioration AS deterioration,
            a.not_on_track,
            a.reasons AS not_on_track_reasons,
            CASE
                WHEN o.client_id IS NOT NULL THEN coalesce(o.overdue_measures, '')
                WHEN date_diff('day', a.intake_date, as_of::DATE) >= overdue_days THEN 'no measure recorded'
                ELSE ''
            END AS overdue_measures
        FROM alerts AS a
        LEFT JOIN overdue AS o USING (client_id)
        LEFT JOIN contact AS c USING (client_id)
    ),
    flagged AS (
        SELECT
            *,
            overdue_measures <> '' AS measures_overdue,
            no_recent_contact(days_since_contact, days_since_intake, no_contact_days) AS no_contact
        FROM rows
    )
    SELECT
        *,
        CASE WHEN risk THEN 1 WHEN deterioration THEN 2 WHEN not_on_track THEN 3 WHEN measures_overdue THEN 4
             WHEN no_contact THEN 5 ELSE 6 END AS need_rank
    FROM flagged;

-- The alert group of a client in treatment (analytics.quality_improvement.model, "Alerts"): the
-- risk group first (rule_risk, whatever the homework), then clients not flagged, then by the
-- quantity of the homework set in the last 4 weeks (0-1, compared rounded to 9 decimals as every
-- compliance cut is: analytics.metrics.CUT_DECIMALS) below low_edge or none reviewed ("little")
-- vs at or above it ("done"). labels = STRUCT(risk, none, little, done).
CREATE OR REPLACE MACRO alert_group(rule_risk, not_on_track, recent_quantity, low_edge, labels) AS
    CASE
        WHEN rule_risk THEN struct_extract(labels, 'risk')
        WHEN NOT not_on_track THEN struct_extract(labels, 'none')
        WHEN recent_quantity IS NULL OR isnan(recent_quantity) OR round(recent_quantity, 9) < low_edge
            THEN struct_extract(labels, 'little')
        ELSE struct_extract(labels, 'done')
    END;
