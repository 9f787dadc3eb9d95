-- Outcome definitions (docs/metrics.md, "Symptom change", "Reliable change", "Caseness and
-- recovery", "Paired outcomes (NHS Talking Therapies)"): the one definition of every per-client
-- outcome and of the cohort counts built on them. These macros read no clinic table: they take the
-- rows they classify as a table argument, so the same text classifies the clinic's rows inside a
-- query (`python -m analytics summary`, analytics.summary) and a DataFrame a page already holds
-- (analytics.metrics.classify_outcomes / measure_summary / classify_paired_outcomes /
-- paired_summary run them on an in-memory DuckDB). Loaded after macros.sql.
--
-- measure_definitions: LIST of STRUCT(name VARCHAR, improvement_sign INTEGER, higher_is_better
-- BOOLEAN, reliable_change DOUBLE, caseness_threshold DOUBLE), one per configured measure, bound
-- from analytics.config.Settings.measure_definitions() (never from the user). A measure that is
-- not configured gets no improvement, reliable change or caseness (NULL).

-- At caseness on a measure (clinical-reference: caseness thresholds): score >= threshold when
-- lower is better (PHQ-9 >= 10, GAD-7 >= 8, CORE-10 >= 11), score <= threshold when higher is
-- better. NULL when the score or the threshold is unknown.
CREATE OR REPLACE MACRO at_caseness(score, caseness_threshold, higher_is_better) AS
    CASE WHEN higher_is_better THEN score <= caseness_threshold ELSE score >= caseness_threshold END;

-- Per client and measure, from first/last scores (columns measure, first_date, first_score,
-- last_date, last_score, any others kept):
--   paired: the last score is later than the first;
--   change = last - first (points, signed as the scale), paired rows only;
--   improvement = change * improvement_sign (points; positive = better whatever the direction);
--   reliable_improvement: improvement >= reliable change; reliable_deterioration: <= -reliable change;
--   caseness_at_first (any row) / caseness_at_last (paired rows): at_caseness;
--   recovered: at caseness at first and not at last (paired rows).
-- Outcome flags are NULL on rows that are not paired.
CREATE OR REPLACE MACRO classified_outcomes(outcome_scores, measure_definitions) AS TABLE
    WITH definitions AS (
        SELECT unnest(measure_definitions, recursive := true)
    ),
    scored AS (
        SELECT
            s.*,
            coalesce(s.last_date > s.first_date, false) AS _paired,
            d.improvement_sign AS _sign,
            d.higher_is_better AS _higher,
            d.reliable_change::DOUBLE AS _rc,
            d.caseness_threshold::DOUBLE AS _threshold
        FROM query_table(outcome_scores) AS s
        LEFT JOIN definitions AS d ON d.name = s.measure
    ),
    changed AS (
        SELECT
            *,
            CASE WHEN _paired THEN (last_score - first_score)::DOUBLE END AS _change,
            at_caseness(first_score, _threshold, _higher) AS _case_first,
            at_caseness(last_score, _threshold, _higher) AS _case_last
        FROM scored
    )
    SELECT
        * EXCLUDE (_paired, _sign, _higher, _rc, _threshold, _change, _case_first, _case_last),
        _paired AS paired,
        _change AS change,
        _change * _sign AS improvement,
        CASE WHEN _paired THEN _change * _sign >= _rc END AS reliable_improvement,
        CASE WHEN _paired THEN _change * _sign <= -_rc END AS reliable_deterioration,
        _case_first AS caseness_at_first,
        CASE WHEN _paired THEN _case_last END AS caseness_at_last,
        CASE WHEN _paired THEN _case_first AND NOT _case_last END AS recovered
    FROM changed;

-- Cohort figures per measure from classified_outcomes rows (with the client's homework columns
-- quantity and quality, 0-1, NULL when none): clients scored; over paired clients the count, the
-- means of first, last and change (points), the counts of reliable improvement and deterioration,
-- of caseness at the first score (the recovery rate's denominator) and of recovered clients; and
-- the Pearson r of quantity (quality) with change over paired clients with a value, with its n.
-- r is NULL when a variable has no spread; the minimum n and the Fisher-z interval are applied
-- by analytics.rates.correlation_with_interval. r takes its rows in client order (ORDER BY client_id):
-- a floating-point sum depends on the order it adds in, and the rows arrive in whatever order the
-- parallel join and aggregate produce, so without it two runs could differ in the 16th digit.
CREATE OR REPLACE MACRO measure_outcome_counts(outcome_rows) AS TABLE
    SELECT
        measure,
        count(DISTINCT client_id)::BIGINT AS clients_scored,
        count(*) FILTER (WHERE paired)::BIGINT AS clients_paired,
        avg(first_score) FILTER (WHERE paired) AS mean_first,
        avg(last_score) FILTER (WHERE paired) AS mean_last,
        avg(change) FILTER (WHERE paired) AS mean_change,
        count(*) FILTER (WHERE paired AND reliable_improvement)::BIGINT AS reliable_improvement,
        count(*) FILTER (WHERE paired AND reliable_deterioration)::BIGINT AS reliable_deterioration,
        count(*) FILTER (WHERE paired AND caseness_at_first)::BIGINT AS caseness_at_first,
        count(*) FILTER (WHERE paired AND recovered)::BIGINT AS recovered,
        corr(change, quantity ORDER BY client_id) FILTER (WHERE paired AND isfinite(quantity) AND isfinite(change))
            AS r_quantity_change,
        count(*) FILTER (WHERE paired AND isfinite(quantity) AND isfinite(change))::BIGINT
            AS r_quantity_change_n,
        corr(change, quality ORDER BY client_id) FILTER (WHERE paired AND isfinite(quality) AND isfinite(change))
            AS r_quality_change,
        count(*) FILTER (WHERE paired AND isfinite(quality) AND isfinite(change))::BIGINT
            AS r_quality_change_n
    FROM query_table(outcome_rows)
    GROUP BY measure;

-- NHS Talking Therapies paired outcomes per client (rows of client_paired_scores: first/last
-- depression and anxiety scores, n_paired, sessions, attended_sessions). depression / anxiety:
-- STRUCTs like one element of measure_definitions (Settings.paired_measures).
--   finished: at least two paired scores and, when the client has sessions on record, at least
--     two attended sessions (NHS: two treatment appointments);
--   caseness_at_first / _at_last: at caseness on either measure;
--   recovered: at caseness at the first paired score and on neither measure at the last;
--   reliable_improvement: a measure reliably improved and none reliably deteriorated;
--   reliable_deterioration: a measure reliably deteriorated and none reliably improved;
--   reliable_recovery: recovered and reliable_improvement.
-- Outcome flags are NULL for clients who did not finish.
CREATE OR REPLACE MACRO classified_paired_outcomes(paired_scores, depression, anxiety) AS TABLE
    WITH flags AS (
        SELECT
            p.*,
            p.n_paired >= 2 AND (coalesce(p.sessions, 0) = 0 OR coalesce(p.attended_sessions, 0) >= 2) AS _finished,
            at_caseness(p.first_depression, struct_extract(depression, 'caseness_threshold'), struct_extract(depression, 'higher_is_better'))
                OR at_caseness(p.first_anxiety, struct_extract(anxiety, 'caseness_threshold'), struct_extract(anxiety, 'higher_is_better')) AS _case_first,
            at_caseness(p.last_depression, struct_extract(depression, 'caseness_threshold'), struct_extract(depression, 'higher_is_better'))
                OR at_caseness(p.last_anxiety, struct_extract(anxiety, 'caseness_threshold'), struct_extract(anxiety, 'higher_is_better')) AS _case_last,
            struct_extract(depression, 'improvement_sign') * (p.last_depression - p.first_depression) AS _dep,
            struct_extract(anxiety, 'improvement_sign') * (p.last_anxiety - p.first_anxiety) AS _anx,
            struct_extract(depression, 'reliable_change')::DOUBLE AS _dep_rc,
            struct_extract(anxiety, 'reliable_change')::DOUBLE AS _anx_rc
        FROM query_table(paired_scores) AS p
    ),
    reliable AS (
        SELECT
            *,
            (_dep >= _dep_rc OR _anx >= _anx_rc) AND NOT (_dep <= -_dep_rc OR _anx <= -_anx_rc) AS _improved,
            (_dep <= -_dep_rc OR _anx <= -_anx_rc) AND NOT (_dep >= _dep_rc OR _anx >= _anx_rc) AS _deteriorated
        FROM flags
    )
    SELECT
        * EXCLUDE (_finished, _case_first, _case_last, _dep, _anx, _dep_rc, _anx_rc, _improved, _deteriorated),
        _finished AS finished,
        CASE WHEN _finished THEN _case_first END AS caseness_at_first,
        CASE WHEN _finished THEN _case_last END AS caseness_at_last,
        CASE WHEN _finished THEN _case_first AND NOT _case_last END AS recovered,
        CASE WHEN _finished THEN _improved END AS reliable_improvement,
        CASE WHEN _finished THEN _deteriorated END AS reliable_deterioration,
        CASE WHEN _finished THEN _case_first AND NOT _case_last AND _improved END AS reliable_recovery
    FROM reliable;

-- Counts behind the NHS Talking Therapies paired rates (analytics.rates.nhs_paired_rates) from
-- classified_paired_outcomes rows: clients with a paired score, finished courses, and among
-- finished clients those at caseness at the first paired score, recovered, reliably improved,
-- reliably deteriorated and reliably recovered. discharged_only: count discharged clients only
-- (a finished course of treatment).
CREATE OR REPLACE MACRO paired_outcome_counts(paired_outcomes, discharged_only) AS TABLE
    SELECT
        count(*)::BIGINT AS clients_with_paired_scores,
        count(*) FILTER (WHERE finished)::BIGINT AS finished,
        count(*) FILTER (WHERE finished AND caseness_at_first)::BIGINT AS caseness_at_first,
        count(*) FILTER (WHERE finished AND recovered)::BIGINT AS recovered,
        count(*) FILTER (WHERE finished AND reliable_improvement)::BIGINT AS reliable_improvement,
        count(*) FILTER (WHERE finished AND reliable_deterioration)::BIGINT AS reliable_deterioration,
        count(*) FILTER (WHERE finished AND reliable_recovery)::BIGINT AS reliable_recovery
    FROM query_table(paired_outcomes)
    WHERE NOT discharged_only OR discharge_date IS NOT NULL;

-- End-of-treatment counts of discharged clients (the quality-improvement report, analytics.quality_improvement
-- .model.discharge_outcomes), from one row per client discharged in the report period: discharge_date, clinic,
-- therapist_id, program and the client's outcome flags finished, caseness_at_first, recovered,
-- reliable_improvement, reliable_deterioration, reliable_recovery (the columns of classified_paired_outcomes;
-- per measure: finished = paired and reliable_recovery = recovered AND reliable_improvement of
-- classified_outcomes; NULL when the client has no outcome). Counted as paired_outcome_counts counts them:
-- discharged = every row; finished; and among finished clients each outcome. One row per discharge month
-- (unit_type 'month', month = its first day), clinic, therapist and programme ('clinic', 'therapist',
-- 'program'; unit = the value, NULL when not recorded) and overall ('all'): GROUPING SETS, so only
-- aggregates leave the database.
CREATE OR REPLACE MACRO discharge_outcome_counts(outcome_rows) AS TABLE
    WITH discharged_rows AS (
        SELECT *, date_trunc('month', discharge_date)::DATE AS month
        FROM query_table(outcome_rows)
    )
    SELECT
        CASE
            WHEN grouping(month) = 0 THEN 'month'
            WHEN grouping(clinic) = 0 THEN 'clinic'
            WHEN grouping(therapist_id) = 0 THEN 'therapist'
            WHEN grouping(program) = 0 THEN 'program'
            ELSE 'all'
        END AS unit_type,
        month,
        coalesce(clinic, therapist_id, program)::VARCHAR AS unit,
        count(*)::BIGINT AS discharged,
        count(*) FILTER (WHERE finished)::BIGINT AS finished,
        count(*) FILTER (WHERE finished AND caseness_at_first)::BIGINT AS caseness_at_first,
        count(*) FILTER (WHERE finished AND recovered)::BIGINT AS recovered,
        count(*) FILTER (WHERE finished AND reliable_improvement)::BIGINT AS reliable_improvement,
        count(*) FILTER (WHERE finished AND reliable_deterioration)::BIGINT AS reliable_deterioration,
        count(*) FILTER (WHERE finished AND reliable_recovery)::BIGINT AS reliable_recovery
    FROM discharged_rows
    GROUP BY GROUPING SETS ((month), (clinic), (therapist_id), (program), ());

-- No recent contact (docs/metrics.md, "Caseload"): no attended session in the last no_contact_days
-- days, counted from intake when the client has attended none yet (days_since_contact NULL). Days
-- to the as-of date. The caseload's need and the client review's contact note.
CREATE OR REPLACE MACRO no_recent_contact(days_since_contact, days_since_intake, no_contact_days) AS
    coalesce(coalesce(days_since_contact, days_since_intake) >= no_contact_days, false);

-- Expected recovery curves (docs/metrics.md, "Expected recovery curves"; the fit:
-- analytics/sql/expected_response_fit.sql). The expected score (points) of a client with intake
-- score x0, given in week intake_weeks, at weeks since intake (weeks = days / 7, from 0):
-- x0 + (c0 + c1 * x0) * L with L = ln(weeks + 1) - ln(intake_weeks + 1) (0 before the intake
-- score), clipped to the measure's range [min_score, max_score].
CREATE OR REPLACE MACRO expected_course_score(x0, weeks, intake_weeks, c0, c1, min_score, max_score) AS
    least(greatest(x0 + (c0 + c1 * x0) * greatest(ln(1 + greatest(weeks, 0)) - ln(1 + greatest(intake_weeks, 0)), 0),
                   min_score), max_score);

-- The band cell (1-based) of a score: week band * 3 + intake third + 1, where the week band is how
-- many of week_band_upper lie below floor(weeks) (0-2 -> 0, ..., 14+ -> 5) and the intake third how
-- many of the cuts (cut_1, cut_2) lie at or below x0. Indexes a curve's low / high lists.
CREATE OR REPLACE MACRO course_band_cell(weeks, x0, week_band_upper, cut_1, cut_2) AS
    len(list_filter(week_band_upper, lambda u: u < floor(greatest(weeks, 0)))) * 3
        + (x0 >= cut_1)::INTEGER + (x0 >= cut_2)::INTEGER + 1;

-- One edge of the band at a point (points): the expected score plus the quantile of the point's
-- cell (course_band_cell; quantiles: a curve's low or high list), clipped to [min_score, max_score].
CREATE OR REPLACE MACRO course_band_edge(expected, quantiles, cell, min_score, max_score) AS
    least(greatest(expected + quantiles[cell], min_score), max_score);

-- Points (_row, x0 = intake score, w = weeks since intake, t0 = the intake score's weeks) of one
-- curve (one element of the curves below): their expected score and band edges low / high. The
-- client review draws the band with it.
CREATE OR REPLACE MACRO expected_course_points(course_points, curve) AS TABLE
    WITH k AS (
        SELECT unnest(curve)
    ),
    expected AS (
        SELECT
            p._row, p.x0, p.w, k.*,
            expected_course_score(p.x0, p.w, p.t0, k.c0, k.c1, k.min_score, k.max_score) AS expected,
            course_band_cell(p.w, p.x0, k.week_band_upper, k.cut_1, k.cut_2) AS _cell
        FROM query_table(course_points) AS p, k
    )
    SELECT
        _row,
        expected,
        course_band_edge(expected, low, _cell, min_score, max_score) AS low,
        course_band_edge(expected, high, _cell, min_score, max_score) AS high
    FROM expected;

-- A client's course read against the expected curve, per later score (the one definition behind
-- the caseload, the quality-improvement alerts, the client review and the back-test):
-- course_scores: rows client_id, measure, administered_date, days (since intake), week (whole weeks
-- since intake), total_score, any others kept: the treatment scores of each course. curves: LIST of
-- STRUCT(measure, higher_is_better, min_score, max_score, c0, c1, cut_1, cut_2, intake_max_week,
-- week_band_upper DOUBLE[], low DOUBLE[], high DOUBLE[]) from analytics.expected_response
-- (curves_parameter): low / high are the residual quantiles of the 18 cells (course_band_cell),
-- fall-backs resolved. A course without a curve gives no row.
-- Per course (client and measure, scores in date order, ties by score): the intake score x0 =
-- the first score (intake_score, its weeks intake_weeks), usable when given in a week <=
-- intake_max_week; each later score (weeks > intake_weeks) of a usable course gets expected
-- (expected_course_score), low / high = expected + the cell's quantiles, clipped to the range, and
-- off_track: below low when higher is better, above high otherwise.
CREATE OR REPLACE MACRO course_positions(course_scores, curves) AS TABLE
    WITH curve AS (
        SELECT unnest(curves) AS _curve
    ),
    ordered AS (
        SELECT
            s.*,
            greatest(s.days, 0) / 7.0 AS weeks,
            row_number() OVER w AS _k,
            first_value(s.total_score) OVER w AS intake_score,
            first_value(greatest(s.days, 0) / 7.0) OVER w AS intake_weeks,
            first_value(s.week) OVER w AS _intake_week
        FROM query_table(course_scores) AS s
        WINDOW w AS (PARTITION BY s.measure, s.client_id ORDER BY s.administered_date, s.total_score)
    ),
    placed AS (
        SELECT
            o.*,
            struct_extract(c._curve, 'higher_is_better') AS _higher,
            struct_extract(c._curve, 'min_score') AS _min,
            struct_extract(c._curve, 'max_score') AS _max,
            expected_course_score(o.intake_score, o.weeks, o.intake_weeks, struct_extract(c._curve, 'c0'),
                                  struct_extract(c._curve, 'c1'), struct_extract(c._curve, 'min_score'),
                                  struct_extract(c._curve, 'max_score')) AS expected,
            course_band_cell(o.weeks, o.intake_score, struct_extract(c._curve, 'week_band_upper'),
                             struct_extract(c._curve, 'cut_1'), struct_extract(c._curve, 'cut_2')) AS _cell,
            struct_extract(c._curve, 'low') AS _lows,
            struct_extract(c._curve, 'high') AS _highs
        FROM ordered AS o
        JOIN curve AS c ON struct_extract(c._curve, 'measure') = o.measure
        WHERE o._k > 1 AND o.weeks > o.intake_weeks
          AND o._intake_week <= struct_extract(c._curve, 'intake_max_week')
    ),
    banded AS (
        SELECT
            *,
            course_band_edge(expected, _lows, _cell, _min, _max) AS low,
            course_band_edge(expected, _highs, _cell, _min, _max) AS high
        FROM placed
    )
    SELECT
        * EXCLUDE (_k, _intake_week, _higher, _min, _max, _cell, _lows, _highs),
        CASE WHEN _higher THEN total_score < low ELSE total_score > high END AS off_track
    FROM banded;

-- Per course with a later score (course_positions): status 'off_track' when the latest score is
-- off track, else 'on_track' (analytics.expected_response.OFF_TRACK / ON_TRACK); when off track,
-- since_week / since_date = the week and date of the first score of the run of off-track scores
-- that ends with the latest one; latest_week / latest_date = those of the latest score.
CREATE OR REPLACE MACRO course_tracks(course_scores, curves) AS TABLE
    WITH positions AS (
        SELECT
            client_id, measure, administered_date, week, off_track,
            row_number() OVER (PARTITION BY measure, client_id ORDER BY administered_date, total_score) AS _k
        FROM course_positions(course_scores, curves)
    ),
    runs AS (
        SELECT
            measure, client_id,
            max(_k) AS _last,
            coalesce(max(_k) FILTER (WHERE NOT off_track), 0) AS _last_on  -- 0: every score off track
        FROM positions
        GROUP BY measure, client_id
    )
    SELECT
        r.client_id,
        r.measure,
        CASE WHEN r._last_on < r._last THEN 'off_track' ELSE 'on_track' END AS status,
        any_value(p.week) FILTER (WHERE r._last_on < r._last AND p._k = r._last_on + 1) AS since_week,
        any_value(p.administered_date) FILTER (WHERE r._last_on < r._last AND p._k = r._last_on + 1) AS since_date,
        any_value(p.week) FILTER (WHERE p._k = r._last) AS latest_week,
        any_value(p.administered_date) FILTER (WHERE p._k = r._last) AS latest_date
    FROM runs AS r
    JOIN positions AS p USING (measure, client_id)
    GROUP BY r.client_id, r.measure, r._last, r._last_on;

-- Compliance band of a client's quantity (or quality) fraction (docs/metrics.md, "Compliance
-- bands"): labels[1] below band_low, labels[2] below band_high, labels[3] from band_high; the value
-- is compared after rounding to 9 decimals (analytics.metrics.CUT_DECIMALS). NULL without a value
-- or with fewer than min_reviewed reviewed assignments. analytics.metrics.compliance_band is the
-- same rule on a DataFrame (tests/test_cohort.py compares the two).
CREATE OR REPLACE MACRO compliance_band_of(value, reviewed, band_low, band_high, min_reviewed, labels) AS
    CASE
        WHEN value IS NULL OR isnan(value) OR coalesce(reviewed, 0) < min_reviewed THEN NULL
        WHEN round(value, 9) < band_low THEN labels[1]
        WHEN round(value, 9) < band_high THEN labels[2]
        ELSE labels[3]
    END;
