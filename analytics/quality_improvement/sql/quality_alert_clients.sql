-- Quality improvement, alerts (docs/metrics.md, "Alerts: clients not on track"): one row per client
-- of the cohort in treatment on $as_of (DATE), or with $flagged_only only those not on track, with
-- the alert rules, their reasons, the latest scores and the homework of the last 4 weeks, evaluated
-- by the macro alert_client_rows (analytics/sql/alert_macros.sql, where every column is defined),
-- and the client's alert group (macro alert_group; $low_edge: the lower compliance-band edge, 0-1;
-- $group_labels: STRUCT(risk, none, little, done)). $window_start: DATE, the first day of the
-- homework window; $risk_measure: the measure of the risk item (item 9); $baseline_days
-- (score_period); $unreviewed_as_not_done (counted_quantity); $measures / $homework_types: the cohort's
-- filters (NULL = all); $definitions: the configured measures; $curves: the expected curves of the
-- viewer's scope (analytics.expected_response.curves_parameter); $not_on_track_weeks: weeks before the
-- fixed caseness rule applies.
WITH alerts AS (
    SELECT *
    FROM alert_client_rows($cohort, $as_of::DATE, $window_start::DATE, $risk_measure::VARCHAR, $baseline_days::INTEGER,
                           $unreviewed_as_not_done::BOOLEAN, $measures::VARCHAR[], $homework_types::VARCHAR[],
                           $definitions, $curves, $not_on_track_weeks::INTEGER)
)
SELECT *, alert_group(rule_risk, not_on_track, recent_quantity, $low_edge::DOUBLE, $group_labels) AS "group"
FROM alerts
WHERE NOT $flagged_only::BOOLEAN OR not_on_track
ORDER BY client_id
