-- Cohort outcomes, within-client analysis: per client, the moments of its score intervals on
-- $measure (macro score_interval_rows, as cohort_score_intervals.sql) that the within-client model
-- is fitted from (analytics.statistics.within_between_from_groups; the same figures as
-- analytics.statistics.group_moments of the interval rows): n = intervals; mean_<v> = the client's
-- mean of v; cross_<u>_<v> = the sum over the client's intervals of (u - mean u)(v - mean v), for
-- change and score (points), quantity (0-1) and week (weeks since intake). One row per client used
-- (at most $max_clients), never one per interval; clients_eligible on every row. Sums run in date
-- order, so the figures do not depend on row order.
WITH intervals AS (
    SELECT * FROM score_interval_rows($cohort, $measure::VARCHAR, $max_gap_days::INTEGER, $max_clients::BIGINT,
                                      $baseline_days::INTEGER, $unreviewed_as_not_done::BOOLEAN,
                                      $homework_types::VARCHAR[])
),
means AS (
    SELECT
        client_id,
        count(*)::BIGINT AS n,
        any_value(clients_eligible) AS clients_eligible,
        avg(change ORDER BY score_date) AS mean_change,
        avg(quantity ORDER BY score_date) AS mean_quantity,
        avg(score ORDER BY score_date) AS mean_score,
        avg(week::DOUBLE ORDER BY score_date) AS mean_week
    FROM intervals
    GROUP BY client_id
),
centred AS (
    SELECT
        i.client_id,
        i.score_date,
        i.change - m.mean_change AS d_change,
        i.quantity - m.mean_quantity AS d_quantity,
        i.score - m.mean_score AS d_score,
        i.week::DOUBLE - m.mean_week AS d_week
    FROM intervals AS i
    JOIN means AS m USING (client_id)
)
SELECT
    m.client_id,
    m.n,
    m.clients_eligible,
    m.mean_change,
    m.mean_quantity,
    m.mean_score,
    m.mean_week,
    sum(c.d_change * c.d_change ORDER BY c.score_date) AS cross_change_change,
    sum(c.d_change * c.d_quantity ORDER BY c.score_date) AS cross_change_quantity,
    sum(c.d_change * c.d_score ORDER BY c.score_date) AS cross_change_score,
    sum(c.d_change * c.d_week ORDER BY c.score_date) AS cross_change_week,
    sum(c.d_quantity * c.d_quantity ORDER BY c.score_date) AS cross_quantity_quantity,
    sum(c.d_quantity * c.d_score ORDER BY c.score_date) AS cross_quantity_score,
    sum(c.d_quantity * c.d_week ORDER BY c.score_date) AS cross_quantity_week,
    sum(c.d_score * c.d_score ORDER BY c.score_date) AS cross_score_score,
    sum(c.d_score * c.d_week ORDER BY c.score_date) AS cross_score_week,
    sum(c.d_week * c.d_week ORDER BY c.score_date) AS cross_week_week
FROM means AS m
JOIN centred AS c USING (client_id)
GROUP BY m.client_id, m.n, m.clients_eligible, m.mean_change, m.mean_quantity, m.mean_score, m.mean_week
ORDER BY m.client_id
