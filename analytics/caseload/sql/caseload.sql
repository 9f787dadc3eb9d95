-- Caseload, the listed rows (docs/metrics.md, "Caseload"): the first $limit (BIGINT) ACTIVE clients of
-- the viewer's scope on $as_of (DATE) in need order (need_rank, then client id), among those whose
-- need_rank is in $need_ranks (INTEGER[]; NULL = every client). Each row is caseload_client_rows
-- (analytics/sql/alert_macros.sql, where every column is defined; the alert rule's parameters as
-- quality_alert_clients.sql: $window_start = the first day of the last 4 weeks, $risk_measure,
-- $baseline_days, $unreviewed_as_not_done, $definitions, $curves, $not_on_track_weeks; $overdue_days
-- = 7 x measure_overdue_weeks, $no_contact_days) plus measure_scores: the listed client's scores per
-- configured measure, a LIST of STRUCT(measure, n_scores, first_date, first_score, last_date,
-- last_score, days_since_score) in measure order: every score on or before $as_of, first = the
-- earliest, last = the latest, days_since_score = days from last_date to $as_of (empty list when
-- none). At most $limit rows reach Python, whatever the size of the caseload.
WITH listed AS (
    SELECT *
    FROM caseload_client_rows($cohort, $as_of::DATE, $window_start::DATE, $risk_measure::VARCHAR,
                              $baseline_days::INTEGER, $unreviewed_as_not_done::BOOLEAN, $definitions, $curves,
                              $not_on_track_weeks::INTEGER, $overdue_days::INTEGER, $no_contact_days::INTEGER)
    WHERE $need_ranks::INTEGER[] IS NULL OR list_contains($need_ranks::INTEGER[], need_rank)
    ORDER BY need_rank, client_id
    LIMIT $limit::BIGINT
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
    JOIN listed USING (client_id)
    WHERE s.administered_date <= $as_of::DATE
      AND list_contains(list_transform($definitions, lambda d: struct_extract(d, 'name')), s.measure)
    GROUP BY s.client_id, s.measure
),
per_client AS (
    SELECT
        client_id,
        list({'measure': measure, 'n_scores': n_scores, 'first_date': first_date, 'first_score': first_score,
              'last_date': last_date, 'last_score': last_score,
              'days_since_score': date_diff('day', last_date, $as_of::DATE)::BIGINT} ORDER BY measure) AS measure_scores
    FROM measure_scores
    GROUP BY client_id
)
SELECT l.*, coalesce(p.measure_scores, []) AS measure_scores
FROM listed AS l
LEFT JOIN per_client AS p USING (client_id)
ORDER BY l.need_rank, l.client_id
