-- Cohort outcomes, follow-up by compliance band (docs/metrics.md, "Cohort outcomes" > "Follow-up"):
-- one row per band, never one per client. Clients: cohort_measure_clients (analytics/sql/
-- cohort_macros.sql) that are paired on $measure, have a band, are discharged and have a score on
-- $measure (discharged_paired). A client's follow-up score is their latest score from 1 to 12
-- calendar months after discharge_date; follow_up_days counts days from discharge to it. Over the
-- clients with one (n): mean and sample SD of the first, last (end of treatment) and follow-up
-- scores and of follow-up - last (change), and the median of follow_up_days. Sums in client order.
WITH cohort_rows AS (
    SELECT * FROM cohort_measure_clients($cohort, $homework_types::VARCHAR[], $unreviewed_as_not_done::BOOLEAN,
                                         $measure, $baseline_days::INTEGER, $measure_definitions, $bands)
    WHERE paired AND band IS NOT NULL
),
cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
measure_scores AS (
    SELECT
        s.client_id,
        cohort.discharge_date,
        s.administered_date,
        s.total_score,
        s.administered_date >= cohort.discharge_date + INTERVAL 1 MONTH
            AND s.administered_date <= cohort.discharge_date + INTERVAL 12 MONTH AS in_window
    FROM scores AS s
    JOIN cohort USING (client_id)
    WHERE s.measure = $measure AND cohort.discharge_date IS NOT NULL
),
follow AS (
    SELECT
        client_id,
        arg_max(total_score, administered_date) FILTER (WHERE in_window)::DOUBLE AS follow_up_score,
        (max(administered_date) FILTER (WHERE in_window) - any_value(discharge_date))::BIGINT AS follow_up_days
    FROM measure_scores
    GROUP BY client_id
),
joined AS (
    SELECT c.client_id, c.band, c.first_score, c.last_score, f.follow_up_score, f.follow_up_days
    FROM cohort_rows AS c
    JOIN follow AS f USING (client_id)
)
SELECT
    band,
    count(*)::BIGINT AS discharged_paired,
    count(follow_up_score)::BIGINT AS n,
    avg(first_score ORDER BY client_id) FILTER (WHERE follow_up_score IS NOT NULL) AS mean_first,
    stddev_samp(first_score ORDER BY client_id) FILTER (WHERE follow_up_score IS NOT NULL) AS sd_first,
    avg(last_score ORDER BY client_id) FILTER (WHERE follow_up_score IS NOT NULL) AS mean_last,
    stddev_samp(last_score ORDER BY client_id) FILTER (WHERE follow_up_score IS NOT NULL) AS sd_last,
    avg(follow_up_score ORDER BY client_id) AS mean_follow_up,
    stddev_samp(follow_up_score ORDER BY client_id) AS sd_follow_up,
    avg(follow_up_score - last_score ORDER BY client_id) AS mean_change,
    stddev_samp(follow_up_score - last_score ORDER BY client_id) AS sd_change,
    median(follow_up_days) FILTER (WHERE follow_up_score IS NOT NULL) AS median_days
FROM joined
GROUP BY band
ORDER BY band
