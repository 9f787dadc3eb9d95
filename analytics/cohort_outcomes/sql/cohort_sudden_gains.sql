-- Cohort outcomes, sudden gains on $measure (docs/metrics.md, "Sudden gains"): the counts and the
-- outcomes of clients with a gain against those without, one row per group (gain true / false,
-- a group without a discharged client has no row), never one per client.
-- Inputs: each cohort client's scores on $measure with their period (macro score_period with
-- $baseline_days: 'treatment' from the baseline window to discharge, 'follow-up' after it), and
-- the cohort's gains (macro sudden_gain_rows: stored at import, or $found, found anew under other
-- settings; magnitude in points of improvement).
-- Looked at: clients with at least $min_scores treatment scores; their first and last treatment
-- score (points), classified by classified_outcomes ($measure_definitions from Settings: the
-- headline's definitions of improvement, reliable improvement, caseness and recovery).
-- Per group, over looked clients who were discharged: discharged (n), mean_improvement (points,
-- positive = better), reliable_improvement (share of those paired), caseness_at_first (n),
-- recovered (share of those at caseness at the first score), follow_up (n with a score after
-- discharge) and follow_up_improvement (mean of $improvement_sign x (latest follow-up score -
-- first score), points). On every row: clients_scored (looked at), clients_with_gain, gains,
-- reversed, magnitude_mean and magnitude_sd (points; SD NULL below two gains). Means run in
-- client order, so they do not depend on row order.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
measure_scores AS (
    SELECT
        s.client_id,
        cohort.discharge_date,
        s.administered_date,
        s.total_score::DOUBLE AS total_score,
        score_period(s.administered_date, cohort.intake_date, cohort.discharge_date, $baseline_days::INTEGER) AS period
    FROM scores AS s
    JOIN cohort USING (client_id)
    WHERE s.measure = $measure::VARCHAR
),
gains AS (
    SELECT * FROM sudden_gain_rows($cohort, $measure::VARCHAR, $baseline_days::INTEGER, $reliable_change::DOUBLE,
                                   $higher_is_better::BOOLEAN,
                                   $found::STRUCT(client_ids VARCHAR[], first_weeks BIGINT[], last_weeks BIGINT[],
                                                  magnitudes DOUBLE[], reversed BOOLEAN[]))
),
looked AS (
    SELECT
        client_id,
        $measure::VARCHAR AS measure,
        any_value(discharge_date) AS discharge_date,
        min(administered_date) AS first_date,
        arg_min(total_score, administered_date) AS first_score,
        max(administered_date) AS last_date,
        arg_max(total_score, administered_date) AS last_score
    FROM measure_scores
    WHERE period = 'treatment'
    GROUP BY client_id
    HAVING count(*) >= $min_scores::INTEGER
),
ends AS (
    SELECT * FROM looked WHERE discharge_date IS NOT NULL
),
classified AS (
    SELECT * FROM classified_outcomes(ends, $measure_definitions)
),
follow_up AS (
    SELECT client_id, arg_max(total_score, administered_date) AS follow_up
    FROM measure_scores
    WHERE period = 'follow-up'
    GROUP BY client_id
),
outcomes AS (
    SELECT
        c.*,
        c.client_id IN (SELECT client_id FROM gains) AS gain,
        f.follow_up,
        $improvement_sign::INTEGER * (f.follow_up - c.first_score) AS follow_up_improvement
    FROM classified AS c
    LEFT JOIN follow_up AS f USING (client_id)
),
totals AS (
    SELECT
        (SELECT count(*) FROM looked)::BIGINT AS clients_scored,
        count(DISTINCT client_id)::BIGINT AS clients_with_gain,
        count(*)::BIGINT AS gains,
        count(*) FILTER (WHERE reversed)::BIGINT AS reversed,
        avg(magnitude ORDER BY client_id, first_week) AS magnitude_mean,
        stddev_samp(magnitude ORDER BY client_id, first_week) AS magnitude_sd
    FROM gains
)
SELECT
    o.gain,
    count(o.client_id)::BIGINT AS discharged,
    avg(o.improvement ORDER BY o.client_id) AS mean_improvement,
    avg(o.reliable_improvement::INTEGER ORDER BY o.client_id) AS reliable_improvement,
    count(*) FILTER (WHERE o.caseness_at_first)::BIGINT AS caseness_at_first,
    avg(o.recovered::INTEGER ORDER BY o.client_id) FILTER (WHERE o.caseness_at_first) AS recovered,
    count(o.follow_up)::BIGINT AS follow_up,
    avg(o.follow_up_improvement ORDER BY o.client_id) AS follow_up_improvement,
    any_value(t.clients_scored) AS clients_scored,
    any_value(t.clients_with_gain) AS clients_with_gain,
    any_value(t.gains) AS gains,
    any_value(t.reversed) AS reversed,
    any_value(t.magnitude_mean) AS magnitude_mean,
    any_value(t.magnitude_sd) AS magnitude_sd
FROM totals AS t
LEFT JOIN outcomes AS o ON true
GROUP BY o.gain
ORDER BY o.gain DESC NULLS LAST
