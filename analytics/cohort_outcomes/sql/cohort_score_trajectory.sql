-- Cohort outcomes: mean score by week since intake, per compliance band (docs/metrics.md,
-- "Cohort outcomes" > "Trajectories").
-- week = whole weeks from intake_date to administered_date (macro treatment_week: 0 = the intake
-- week, a baseline-window score before intake counts as week 0); only 'treatment' scores (macro
-- score_period: from the baseline window, $baseline_days days before intake, to discharge_date)
-- and up to $max_week. A client with several scores
-- in one week counts once, with the mean of those scores, so n_clients is clients.
-- Each client's band is the band of cohort_measure_clients (analytics/sql/cohort_macros.sql);
-- clients without a band are left out.
-- Output per band and week: n_clients, mean_score and sd_score (sample SD) in the measure's points,
-- taken in client order (the same digits whatever the rows' physical order).
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
bands AS (
    SELECT client_id, band
    FROM cohort_measure_clients($cohort, $homework_types::VARCHAR[], $unreviewed_as_not_done::BOOLEAN, $measure,
                                $baseline_days::INTEGER, $measure_definitions, $bands)
    WHERE band IS NOT NULL
),
measure_scores AS (
    SELECT
        s.client_id,
        treatment_week(s.administered_date, cohort.intake_date) AS week,  -- whole weeks since intake
        s.total_score
    FROM scores AS s
    JOIN cohort USING (client_id)
    WHERE s.measure = $measure
      AND score_period(s.administered_date, cohort.intake_date, cohort.discharge_date, $baseline_days::INTEGER)
          = 'treatment'
),
client_weeks AS (
    SELECT client_id, week, avg(total_score) AS score  -- one value per client and week (integers: an exact sum)
    FROM measure_scores
    WHERE week <= $max_week
    GROUP BY client_id, week
)
SELECT
    bands.band,
    client_weeks.week,
    count(*)::BIGINT AS n_clients,
    avg(client_weeks.score ORDER BY client_weeks.client_id) AS mean_score,
    stddev_samp(client_weeks.score ORDER BY client_weeks.client_id) AS sd_score
FROM client_weeks
JOIN bands USING (client_id)
GROUP BY bands.band, client_weeks.week
ORDER BY bands.band, client_weeks.week
