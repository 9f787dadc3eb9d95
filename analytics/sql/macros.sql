-- Metric building blocks, defined once and used by every query (docs/metrics.md).
-- Created in the reader's private in-memory catalog; the clinic file stays read-only.

-- Quantity fraction of one assignment, 0-1 (share of the assignment that was done):
-- quantity_rating / 4 when rated (0 none .. 4 all), else completed / planned practices
-- capped at 1 when both are present, else NULL: the assignment is not reviewed.
CREATE OR REPLACE MACRO quantity_fraction(quantity_rating, completed_practices, planned_practices) AS
    CASE
        WHEN quantity_rating IS NOT NULL THEN quantity_rating / 4.0
        WHEN completed_practices IS NOT NULL AND planned_practices IS NOT NULL
            THEN least(completed_practices / planned_practices, 1.0)
    END;

-- Quality fraction of one assignment, 0-1: quality_rating / 4 when rated, else NULL.
CREATE OR REPLACE MACRO quality_fraction(quality_rating) AS quality_rating / 4.0;

-- Design-checklist items met (0-5): goal-linked, rationale given, rehearsed in session,
-- practice scheduled, obstacles planned. Unknown (NULL) counts as not met.
CREATE OR REPLACE MACRO checklist_items_met(goal_linked, rationale_given, rehearsed_in_session,
                                            practice_scheduled, obstacles_planned) AS
    coalesce(goal_linked::INT, 0) + coalesce(rationale_given::INT, 0)
    + coalesce(rehearsed_in_session::INT, 0) + coalesce(practice_scheduled::INT, 0)
    + coalesce(obstacles_planned::INT, 0);

-- The clients a viewer may see (scope) narrowed by the cohort filters. Every query that
-- touches client data starts from this macro (tests/test_access.py checks every .sql file).
-- cohort: one STRUCT, bound as $cohort from analytics.scope.query_params (the one way a query
-- gets its scope and filters, so none can be left out), with the fields:
--   scope_clinics / scope_therapist: from analytics.scope.Viewer, never from the user:
--     NULL = no limit (admin; qi and therapists without clinics), an EMPTY list = no clinic
--     at all, so a supervisor with no clinic listed sees nothing (list_contains([], x) is false);
--   clinics, therapists, programs, concerns (lists), intake_from, intake_to (dates): cohort
--     filters, NULL = no restriction; they can only narrow the scope, never widen it (every
--     condition is ANDed).
CREATE OR REPLACE MACRO cohort_clients(cohort) AS TABLE
    WITH filters AS (
        SELECT
            struct_extract(cohort, 'scope_clinics')::VARCHAR[] AS scope_clinics,
            struct_extract(cohort, 'scope_therapist')::VARCHAR AS scope_therapist,
            struct_extract(cohort, 'clinics')::VARCHAR[] AS clinics,
            struct_extract(cohort, 'therapists')::VARCHAR[] AS therapists,
            struct_extract(cohort, 'programs')::VARCHAR[] AS programs,
            struct_extract(cohort, 'concerns')::VARCHAR[] AS concerns,
            struct_extract(cohort, 'intake_from')::DATE AS intake_from,
            struct_extract(cohort, 'intake_to')::DATE AS intake_to
    )
    SELECT c.*
    FROM clients AS c, filters AS f
    WHERE (f.scope_clinics IS NULL OR list_contains(f.scope_clinics, c.clinic))
      AND (f.scope_therapist IS NULL OR c.therapist_id = f.scope_therapist)
      AND (f.clinics IS NULL OR list_contains(f.clinics, c.clinic))
      AND (f.therapists IS NULL OR list_contains(f.therapists, c.therapist_id))
      AND (f.programs IS NULL OR list_contains(f.programs, c.program))
      AND (f.concerns IS NULL OR list_contains(f.concerns, c.primary_concern))
      AND (f.intake_from IS NULL OR c.intake_date >= f.intake_from)
      AND (f.intake_to IS NULL OR c.intake_date <= f.intake_to);

-- The values a viewer can pick in each cohort filter (analytics.data.model.filter_options), per
-- clinic of the cohort's clients (NULL: clients without a clinic): field is 'clinic', 'therapist',
-- 'program', 'concern' (a client's own columns), 'measure' (measures the clients have scores on) or
-- 'homework_type' (types of the clients' assignments). One row per (clinic, field, value). Run over
-- the whole network at import and stored (analytics/stored.py, stored_filter_values), and over a
-- therapist's caseload when a page asks (filter_options.sql).
CREATE OR REPLACE MACRO clinic_filter_values(cohort) AS TABLE
    WITH cohort AS (
        SELECT * FROM cohort_clients(cohort)
    )
    SELECT clinic, 'clinic' AS field, clinic AS value FROM cohort WHERE clinic IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT clinic, 'therapist', therapist_id FROM cohort WHERE therapist_id IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT clinic, 'program', program FROM cohort WHERE program IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT clinic, 'concern', primary_concern FROM cohort WHERE primary_concern IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT c.clinic, 'measure', s.measure FROM scores AS s JOIN cohort AS c USING (client_id)
    WHERE s.measure IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT c.clinic, 'homework_type', a.homework_type FROM assignments AS a JOIN cohort AS c USING (client_id)
    WHERE a.homework_type IS NOT NULL GROUP BY ALL;

-- Per clinic of cohort (NULL: clients without a clinic): the latest session date, the latest
-- score date and the first intake date of its clients (DATEs, NULL when none): what
-- quality_as_of.sql aggregates for a therapist's caseload, and what is stored at import over the
-- network (analytics/stored.py, store_clinic_dates) so a page's "data as of" date is read from a
-- row per clinic (stored_quality_as_of.sql).
CREATE OR REPLACE MACRO clinic_dates(cohort) AS TABLE
    WITH cohort AS (
        SELECT * FROM cohort_clients(cohort)
    ),
    latest_session AS (
        SELECT c.clinic, max(s.session_date) AS latest_session
        FROM sessions AS s JOIN cohort AS c USING (client_id) GROUP BY c.clinic
    ),
    latest_score AS (
        SELECT c.clinic, max(sc.administered_date) AS latest_score
        FROM scores AS sc JOIN cohort AS c USING (client_id) GROUP BY c.clinic
    ),
    intakes AS (
        SELECT clinic, min(intake_date) AS first_intake FROM cohort GROUP BY clinic
    )
    SELECT i.clinic, ls.latest_session, sc.latest_score, i.first_intake
    FROM intakes AS i
    LEFT JOIN latest_session AS ls ON ls.clinic IS NOT DISTINCT FROM i.clinic
    LEFT JOIN latest_score AS sc ON sc.clinic IS NOT DISTINCT FROM i.clinic;

-- Design-checklist coverage of one assignment, 0-1: the share of the 5 checklist items met
-- (checklist_items_met / 5; unknown counts as not met). Quality-improvement page; docs/metrics.md.
CREATE OR REPLACE MACRO checklist_coverage(goal_linked, rationale_given, rehearsed_in_session,
                                           practice_scheduled, obstacles_planned) AS
    checklist_items_met(goal_linked, rationale_given, rehearsed_in_session,
                        practice_scheduled, obstacles_planned) / 5.0;

-- A client open on a date (docs/metrics.md, "Caseload" and "Alerts"): taken in on or before it
-- and not discharged by it (no discharge date, or a later one). The one definition of "active"
-- shared by the caseload and the quality-improvement alerts.
CREATE OR REPLACE MACRO open_on(intake_date, discharge_date, as_of) AS
    intake_date <= as_of AND (discharge_date IS NULL OR discharge_date > as_of);

-- Treatment window of an assignment (docs/metrics.md, "Treatment window"): set on or after the
-- intake date and, once the client is discharged, on or before the discharge date. Compliance
-- counts only these, as outcomes count only scores up to discharge; homework set after
-- discharge is follow-up homework, shown separately.
CREATE OR REPLACE MACRO in_treatment_window(assigned_date, intake_date, discharge_date) AS
    assigned_date >= intake_date AND (discharge_date IS NULL OR assigned_date <= discharge_date);

-- Follow-up homework: set after the discharge date.
CREATE OR REPLACE MACRO after_discharge(assigned_date, discharge_date) AS
    discharge_date IS NOT NULL AND assigned_date > discharge_date;

-- The quantity fraction that counts toward a client's quantity under the chosen reading of
-- unreviewed homework (Settings.unreviewed_as_not_done): false (default) = unreviewed work is
-- left out (NULL); true = unreviewed work counts as not done (0).
CREATE OR REPLACE MACRO counted_quantity(quantity_fraction, unreviewed_as_not_done) AS
    CASE WHEN unreviewed_as_not_done THEN coalesce(quantity_fraction, 0.0) ELSE quantity_fraction END;

-- Homework per client of a cohort (docs/metrics.md), over the treatment window
-- (in_treatment_window): assignments set, reviewed assignments (those with a quantity fraction),
-- the reviewed share (reviewed / set), and the client's quantity and quality: the mean of their
-- assignments' fractions (0-1; NULL when none counted / rated; unreviewed work per
-- counted_quantity). follow_up_assignments: set after discharge (not counted above).
-- homework_types: NULL = all. A client with any assignment has a row.
-- The one definition behind analytics.metrics.client_homework and the programme medians.
-- Computed from the assignments at query time; queries call client_homework_rows
-- (analytics/sql/stored_client_rows.sql), which reads the rows this macro stored at import when
-- the settings match and calls this macro otherwise.
CREATE OR REPLACE MACRO client_homework_rows_live(cohort, homework_types,
                                                  unreviewed_as_not_done := false) AS TABLE
    WITH assignment_fractions AS (
        SELECT
            a.client_id,
            a.assignment_id,
            in_treatment_window(a.assigned_date, cohort.intake_date, cohort.discharge_date) AS in_window,
            after_discharge(a.assigned_date, cohort.discharge_date) AS follow_up,
            quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS quantity_fraction,
            quality_fraction(a.quality_rating) AS quality_fraction
        FROM assignments AS a
        JOIN cohort_clients(cohort) AS cohort USING (client_id)
        WHERE homework_types IS NULL OR list_contains(homework_types, a.homework_type)
    )
    SELECT
        client_id,
        count(*) FILTER (WHERE in_window)::BIGINT AS assignments,
        count(quantity_fraction) FILTER (WHERE in_window)::BIGINT AS reviewed_assignments,
        count(quantity_fraction) FILTER (WHERE in_window)
            / nullif(count(*) FILTER (WHERE in_window), 0) AS reviewed_share,
        avg(counted_quantity(quantity_fraction, unreviewed_as_not_done) ORDER BY assignment_id)
            FILTER (WHERE in_window) AS quantity,
        avg(quality_fraction ORDER BY assignment_id) FILTER (WHERE in_window) AS quality,
        count(*) FILTER (WHERE follow_up)::BIGINT AS follow_up_assignments
    FROM assignment_fractions
    GROUP BY client_id;

-- Activity and homework per client and calendar month of a cohort, the rows behind the
-- quality-improvement report's monthly trends and funnels (quality_monthly_activity.sql,
-- quality_unit_homework.sql). month: first day of the month. Sessions by session_date:
-- sessions_attended (attended NULL = attended) and sessions_missed. Assignments by assigned_date
-- (homework_types: NULL = all), those in the client's treatment window (in_treatment_window):
-- how many, how many reviewed (with a quantity fraction) and the sum of their quantity
-- fractions, how many rated and the sum of their quality fractions, the sum of their checklist
-- coverage (each 0-1 per assignment); and those set after discharge (after_discharge,
-- follow-up homework, not counted above). Sums, not means: a client's mean over any run of
-- months is the sum of its months over the count (mean_counted_quantity), so the rows stored at
-- import (analytics/stored.py, stored_client_months) serve every month-aligned period.
-- period_start, period_end: DATEs bounding session and assigned dates (NULL: unbounded).
-- A client-month with any session or assignment has a row. Queries call client_month_rows
-- (analytics/sql/stored_client_rows.sql), which reads the stored rows when it can.
CREATE OR REPLACE MACRO client_month_rows_live(cohort, homework_types, period_start, period_end) AS TABLE
    WITH clients_in_cohort AS (
        SELECT client_id, intake_date, discharge_date FROM cohort_clients(cohort)
    ),
    session_months AS (
        SELECT
            s.client_id,
            date_trunc('month', s.session_date)::DATE AS month,
            count(*) FILTER (WHERE coalesce(s.attended, true))::BIGINT AS sessions_attended,
            count(*) FILTER (WHERE NOT coalesce(s.attended, true))::BIGINT AS sessions_missed
        FROM sessions AS s
        JOIN clients_in_cohort USING (client_id)
        WHERE (period_start IS NULL OR s.session_date >= period_start)
          AND (period_end IS NULL OR s.session_date <= period_end)
        GROUP BY ALL
    ),
    assignment_rows AS (
        SELECT
            a.client_id,
            date_trunc('month', a.assigned_date)::DATE AS month,
            in_treatment_window(a.assigned_date, c.intake_date, c.discharge_date) AS in_window,
            after_discharge(a.assigned_date, c.discharge_date) AS follow_up,
            quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS quantity_fraction,
            quality_fraction(a.quality_rating) AS quality_fraction,
            checklist_coverage(a.goal_linked, a.rationale_given, a.rehearsed_in_session,
                               a.practice_scheduled, a.obstacles_planned) AS coverage
        FROM assignments AS a
        JOIN clients_in_cohort AS c USING (client_id)
        WHERE (period_start IS NULL OR a.assigned_date >= period_start)
          AND (period_end IS NULL OR a.assigned_date <= period_end)
          AND (homework_types IS NULL OR list_contains(homework_types, a.homework_type))
    ),
    assignment_months AS (
        SELECT
            client_id,
            month,
            count(*) FILTER (WHERE in_window)::BIGINT AS assignments,
            count(quantity_fraction) FILTER (WHERE in_window)::BIGINT AS reviewed_assignments,
            sum(quantity_fraction) FILTER (WHERE in_window) AS quantity_sum,  -- NULL: none (0 below)
            count(quality_fraction) FILTER (WHERE in_window)::BIGINT AS rated_assignments,
            sum(quality_fraction) FILTER (WHERE in_window) AS quality_sum,
            sum(coverage) FILTER (WHERE in_window) AS coverage_sum,
            count(*) FILTER (WHERE follow_up)::BIGINT AS follow_up_assignments
        FROM assignment_rows
        GROUP BY ALL
    )
    SELECT
        client_id,
        month,
        coalesce(s.sessions_attended, 0)::BIGINT AS sessions_attended,
        coalesce(s.sessions_missed, 0)::BIGINT AS sessions_missed,
        coalesce(a.assignments, 0)::BIGINT AS assignments,
        coalesce(a.reviewed_assignments, 0)::BIGINT AS reviewed_assignments,
        coalesce(a.quantity_sum, 0)::DOUBLE AS quantity_sum,
        coalesce(a.rated_assignments, 0)::BIGINT AS rated_assignments,
        coalesce(a.quality_sum, 0)::DOUBLE AS quality_sum,
        coalesce(a.coverage_sum, 0)::DOUBLE AS coverage_sum,
        coalesce(a.follow_up_assignments, 0)::BIGINT AS follow_up_assignments
    FROM session_months AS s
    FULL OUTER JOIN assignment_months AS a USING (client_id, month);

-- A client's quantity (0-1) from the sums of client_month_rows_live: the mean of the counted
-- quantity fractions (counted_quantity): over the reviewed assignments, or over every assignment
-- when unreviewed work counts as not done; NULL when none is counted.
CREATE OR REPLACE MACRO mean_counted_quantity(quantity_sum, reviewed_assignments, assignments,
                                              unreviewed_as_not_done) AS
    quantity_sum / nullif(CASE WHEN unreviewed_as_not_done THEN assignments ELSE reviewed_assignments END, 0);

-- Period of one symptom score (docs/metrics.md, "Baseline and treatment window"), the one rule
-- behind every outcome, trajectory, within-client interval, alert and the client review:
--   'screening'  administered before the baseline window opens (intake_date - baseline_days
--                days), e.g. a referral screening: never a baseline, never in any outcome;
--   'follow-up'  administered after discharge_date;
--   'treatment'  otherwise (from the baseline window to discharge, or to now while in treatment).
-- The baseline ("first") score is a client's earliest 'treatment' score on a measure; the last
-- score their latest 'treatment' score. baseline_days = Settings.baseline_days_before_intake
-- (default 0: the first score on or after the intake date).
CREATE OR REPLACE MACRO score_period(administered_date, intake_date, discharge_date, baseline_days) AS
    CASE
        WHEN administered_date < intake_date - CAST(baseline_days AS INTEGER) THEN 'screening'
        WHEN discharge_date IS NOT NULL AND administered_date > discharge_date THEN 'follow-up'
        ELSE 'treatment'
    END;

-- Whole weeks since intake of a treatment score (0 = the intake week); a baseline-window score
-- dated before intake counts as week 0, so trajectories start from the same baseline as outcomes.
CREATE OR REPLACE MACRO treatment_week(administered_date, intake_date) AS
    greatest(date_diff('day', intake_date, administered_date) // 7, 0);

-- Whole weeks since intake (docs/metrics.md, "Weeks since intake"): week 0 = the 7 days starting
-- on the intake date, week n starts on intake_date + 7n; negative before intake.
CREATE OR REPLACE MACRO weeks_since_intake(intake_date, on_date) AS
    floor(date_diff('day', intake_date, on_date) / 7)::BIGINT;

-- One client of the viewer's scope and cohort filters (the client review): no row when the client
-- is unknown or out of scope, both read as "not found".
CREATE OR REPLACE MACRO scoped_client(cohort, wanted_client) AS TABLE
    SELECT c.*
    FROM cohort_clients(cohort) AS c
    WHERE c.client_id = wanted_client;

-- Every assignment of one scoped client (scoped_client) with its week since intake, its metric
-- fractions (0-1: quantity_fraction, the quantity that counts under the reading of unreviewed work
-- (counted_quantity), quality_fraction), its design-checklist flags, and whether it is in the
-- treatment window (in_window) or follow-up homework (follow_up). The client review's homework
-- summary and weekly queries start from it.
CREATE OR REPLACE MACRO scoped_client_assignments(cohort, wanted_client,
                                                  unreviewed_as_not_done) AS TABLE
    SELECT
        weeks_since_intake(c.intake_date, a.assigned_date) AS week,
        a.homework_type,
        a.goal_linked, a.rationale_given, a.rehearsed_in_session, a.practice_scheduled, a.obstacles_planned,
        quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS quantity_fraction,
        counted_quantity(quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices),
                         unreviewed_as_not_done) AS counted_quantity,
        quality_fraction(a.quality_rating) AS quality_fraction,
        in_treatment_window(a.assigned_date, c.intake_date, c.discharge_date) AS in_window,
        after_discharge(a.assigned_date, c.discharge_date) AS follow_up
    FROM assignments AS a
    JOIN scoped_client(cohort, wanted_client) AS c USING (client_id)
    WHERE a.client_id = wanted_client;

-- First and last score per client and measure (docs/metrics.md, "Symptom change" and "Baseline
-- and treatment window", macro score_period): first = the baseline, the earliest score from the
-- baseline window on (baseline_days days before intake; screening scores before it never count);
-- last = latest on or before discharge_date (latest overall while in treatment); scores after
-- discharge are follow-up. Scores are totals in the measure's points. Clients whose scores on a
-- measure are all screening scores have no row for it. measures: NULL = all; wanted_client: NULL
-- = every client of the cohort. The rows analytics/sql/outcome_macros.sql classifies.
-- Computed at query time; queries call client_measure_score_rows (stored_client_rows.sql).
CREATE OR REPLACE MACRO client_measure_score_rows_live(cohort, baseline_days, measures, wanted_client) AS TABLE
    WITH cohort AS (
        SELECT * FROM cohort_clients(cohort)
    ),
    cohort_scores AS (
        SELECT
            s.client_id,
            s.measure,
            s.administered_date,
            s.total_score,
            score_period(s.administered_date, cohort.intake_date, cohort.discharge_date, baseline_days) AS period
        FROM scores AS s
        JOIN cohort USING (client_id)
        WHERE (measures IS NULL OR list_contains(measures, s.measure))
          AND (wanted_client IS NULL OR s.client_id = wanted_client)
    )
    SELECT
        client_id,
        measure,
        count(*) FILTER (WHERE period <> 'screening')::BIGINT AS n_scores,
        min(administered_date) FILTER (WHERE period <> 'screening') AS first_date,
        arg_min(total_score, administered_date) FILTER (WHERE period <> 'screening') AS first_score,
        max(administered_date) FILTER (WHERE period = 'treatment') AS last_date,
        arg_max(total_score, administered_date) FILTER (WHERE period = 'treatment') AS last_score,
        count(*) FILTER (WHERE period = 'follow-up')::BIGINT AS n_follow_up,
        count(*) FILTER (WHERE period = 'screening')::BIGINT AS n_screening
    FROM cohort_scores
    GROUP BY client_id, measure
    HAVING count(*) FILTER (WHERE period <> 'screening') > 0;

-- NHS Talking Therapies paired scores (docs/metrics.md, "Paired outcomes (NHS Talking Therapies)"):
-- one row per client of the cohort with at least one paired score, i.e. a date on which both
-- depression_measure and anxiety_measure were administered (two scores of one measure on one
-- day are averaged). Only treatment scores count (macro score_period with baseline_days: no
-- screening score before the baseline window, no follow-up score after discharge).
-- first_* = the earliest paired score, last_* = the latest (totals in each measure's points);
-- n_paired = paired dates; sessions / attended_sessions = sessions on record from the baseline
-- window to discharge (all, and attended). wanted_client: NULL = every client of the cohort.
-- Computed at query time; queries call client_paired_score_rows (stored_client_rows.sql).
CREATE OR REPLACE MACRO client_paired_score_rows_live(cohort, depression_measure, anxiety_measure, baseline_days,
                                                      wanted_client) AS TABLE
    WITH cohort AS (
        SELECT * FROM cohort_clients(cohort)
    ),
    day_scores AS (
        SELECT
            s.client_id,
            s.administered_date,
            avg(s.total_score) FILTER (WHERE s.measure = depression_measure) AS depression,
            avg(s.total_score) FILTER (WHERE s.measure = anxiety_measure) AS anxiety
        FROM scores AS s
        JOIN cohort USING (client_id)
        WHERE s.measure IN (depression_measure, anxiety_measure)
          AND score_period(s.administered_date, cohort.intake_date, cohort.discharge_date, baseline_days)
              = 'treatment'
          AND (wanted_client IS NULL OR s.client_id = wanted_client)
        GROUP BY s.client_id, s.administered_date
    ),
    paired AS (
        SELECT * FROM day_scores WHERE depression IS NOT NULL AND anxiety IS NOT NULL
    ),
    treatment_sessions AS (
        SELECT
            se.client_id,
            count(*)::BIGINT AS sessions,
            count(*) FILTER (WHERE se.attended)::BIGINT AS attended_sessions
        FROM sessions AS se
        JOIN cohort USING (client_id)
        WHERE score_period(se.session_date, cohort.intake_date, cohort.discharge_date, baseline_days)
              = 'treatment'
          AND (wanted_client IS NULL OR se.client_id = wanted_client)
        GROUP BY se.client_id
    )
    SELECT
        p.client_id,
        any_value(cohort.discharge_date) AS discharge_date,
        count(*)::BIGINT AS n_paired,
        min(p.administered_date) AS first_date,
        arg_min(p.depression, p.administered_date) AS first_depression,
        arg_min(p.anxiety, p.administered_date) AS first_anxiety,
        max(p.administered_date) AS last_date,
        arg_max(p.depression, p.administered_date) AS last_depression,
        arg_max(p.anxiety, p.administered_date) AS last_anxiety,
        coalesce(any_value(ts.sessions), 0)::BIGINT AS sessions,
        coalesce(any_value(ts.attended_sessions), 0)::BIGINT AS attended_sessions
    FROM paired AS p
    JOIN cohort USING (client_id)
    LEFT JOIN treatment_sessions AS ts USING (client_id)
    GROUP BY p.client_id;

-- Score intervals of the within-client model (docs/metrics.md, "Cohort outcomes" > "Within-client
-- analysis"): one row per interval between two consecutive in-treatment scores (score_period =
-- 'treatment': from the baseline window, baseline_days days before intake, to discharge) of a
-- client of the cohort on measure.
-- score / next_score: the totals at the start and end of the interval (points; two scores on one
-- day are averaged); change = next_score - score (negative is improvement); week = whole weeks
-- since intake at the interval's start (treatment_week); score_date = its date.
-- quantity: mean quantity fraction (0-1, quantity_fraction) of the assignments set during the
-- interval (assigned on or after the start score's date and before the next score's date), i.e.
-- the homework done between the two scores, counting only assignments in the treatment window
-- (in_treatment_window; follow-up homework never counts) and of homework_types (NULL = all), reading
-- unreviewed work per unreviewed_as_not_done (counted_quantity, as client_homework_rows).
-- reviewed_assignments: those with a quantity fraction. Intervals longer than max_gap_days days or
-- without a counted assignment (a reviewed one, in the default reading) are left out.
-- Large cohorts: of the clients with at least two such scores (clients_eligible, on every row), at
-- most max_clients are used, chosen deterministically (lowest md5 of client_id), before any
-- interval is built, so the cost does not grow with the cohort.
CREATE OR REPLACE MACRO score_interval_rows(cohort, measure, max_gap_days, max_clients, baseline_days,
                                            unreviewed_as_not_done, homework_types) AS TABLE
    WITH cohort AS (
        SELECT * FROM cohort_clients(cohort)
    ),
    measure_scores AS (
        SELECT s.client_id, s.administered_date, avg(s.total_score) AS score  -- integers: an exact sum, any order
        FROM scores AS s
        JOIN cohort USING (client_id)
        WHERE s.measure = measure
          AND score_period(s.administered_date, cohort.intake_date, cohort.discharge_date, baseline_days)
              = 'treatment'
        GROUP BY s.client_id, s.administered_date
    ),
    eligible AS (
        SELECT client_id, md5(client_id) AS draw
        FROM measure_scores
        GROUP BY client_id
        HAVING count(*) >= 2
    ),
    kept AS (
        SELECT client_id FROM eligible ORDER BY draw LIMIT max_clients
    ),
    intervals AS (
        SELECT
            client_id,
            administered_date AS score_date,
            score,
            lead(administered_date) OVER w AS next_date,
            lead(score) OVER w AS next_score
        FROM measure_scores
        JOIN kept USING (client_id)
        WINDOW w AS (PARTITION BY client_id ORDER BY administered_date)
    ),
    homework AS (
        SELECT
            a.client_id,
            a.assignment_id,
            a.assigned_date,
            quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices) AS reviewed_quantity,
            counted_quantity(quantity_fraction(a.quantity_rating, a.completed_practices, a.planned_practices),
                             unreviewed_as_not_done) AS quantity
        FROM assignments AS a
        JOIN kept USING (client_id)
        JOIN cohort USING (client_id)
        WHERE (homework_types IS NULL OR list_contains(homework_types, a.homework_type))
          AND in_treatment_window(a.assigned_date, cohort.intake_date, cohort.discharge_date)
    ),
    interval_homework AS (
        SELECT
            i.client_id,
            i.score_date,
            i.score,
            i.next_score,
            count(h.reviewed_quantity)::BIGINT AS reviewed_assignments,
            avg(h.quantity ORDER BY h.assignment_id) AS quantity  -- in a fixed order: the same digits every run
        FROM intervals AS i
        JOIN homework AS h
          ON h.client_id = i.client_id AND h.assigned_date >= i.score_date AND h.assigned_date < i.next_date
        WHERE i.next_date IS NOT NULL AND date_diff('day', i.score_date, i.next_date) <= max_gap_days
        GROUP BY i.client_id, i.score_date, i.score, i.next_score
        HAVING count(h.quantity) > 0
    )
    SELECT
        ih.client_id,
        ih.score_date,
        treatment_week(ih.score_date, cohort.intake_date) AS week,
        ih.score,
        ih.next_score,
        ih.next_score - ih.score AS change,
        ih.quantity,
        ih.reviewed_assignments,
        (SELECT count(*) FROM eligible)::BIGINT AS clients_eligible
    FROM interval_homework AS ih
    JOIN cohort USING (client_id);
