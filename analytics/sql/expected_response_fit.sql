-- Expected recovery curves fitted in DuckDB (docs/metrics.md, "Expected recovery curves"): the
-- same fit as analytics.expected_response.fit_curve (the Python reference, compared with this
-- query on the test fixtures), so that only the fitted numbers reach Python, never the scores.
-- Training clients: the discharged clients of $cohort (the viewer's scope), discharged on or before
-- $as_of and with intake before $fit_before when given (DATE, NULL = no bound). Scores: every
-- 'treatment' score (macro score_period with $baseline_days) on the $measures, per client and
-- measure in date order (ties by score). weeks = max(days since intake, 0) / 7 (DOUBLE); the
-- intake score x0 = the first score, usable when given in week <= $intake_max_week; a later score
-- has L = ln(weeks + 1) - ln(intake weeks + 1) > 0.
-- Fit: weighted least squares of (score - x0) on L and x0 * L without intercept, each client
-- weighing 1 (weight 1 / the client's later scores), solved from the sums of cross-products:
-- expected = clip(x0 + (c0 + c1 * x0) * L, $min_scores[m], $max_scores[m]) (points).
-- Intake thirds: cut_1, cut_2 = quantile_cont of the clients' intake scores at $intake_thirds.
-- Band cells: (week band, intake third), week band pooled (-1), intake third pooled (-1) and both
-- pooled; week band = how many of $week_band_upper lie below floor(weeks); intake third = how many
-- cuts lie at or below x0. In a cell each client weighs 1 (1 / their residuals in the cell);
-- low / high = the weighted quantiles $band_low / $band_high of the residuals (score - expected,
-- points): the weighted empirical CDF at mid-points (cumulative weight - half the own weight, over
-- the total), linearly interpolated, the ends held. A cell that is not fully pooled needs
-- $min_cell_clients clients. Curves only for measures with at least $min_clients clients.
-- Scopes (fit_scope): 'cohort', the whole of $cohort; with $by_clinic also 'clinic:' || clinic,
-- each clinic's clients of $cohort on their own (the import stores the fits of the whole network
-- and of every clinic in one run: analytics/stored.py). Every step is per scope: a scope's curve
-- is exactly the curve of a cohort of its clients alone.
-- One row per scope, measure and cell (cell columns NULL for a measure without a curve).
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
),
trained_clients AS (
    SELECT client_id, clinic, intake_date, discharge_date
    FROM cohort
    WHERE discharge_date IS NOT NULL
      AND ($as_of::DATE IS NULL OR discharge_date <= $as_of::DATE)
      AND ($fit_before::DATE IS NULL OR intake_date < $fit_before::DATE)
),
trained AS (
    SELECT 'cohort' AS fit_scope, client_id, intake_date, discharge_date FROM trained_clients
    UNION ALL
    SELECT 'clinic:' || clinic AS fit_scope, client_id, intake_date, discharge_date
    FROM trained_clients
    WHERE $by_clinic::BOOLEAN AND clinic IS NOT NULL
),
scored AS (
    SELECT
        t.fit_scope,
        s.client_id,
        s.measure,
        s.administered_date,
        s.total_score::DOUBLE AS y,
        greatest(date_diff('day', t.intake_date, s.administered_date), 0) / 7.0 AS weeks,
        weeks_since_intake(t.intake_date, s.administered_date) AS week
    FROM scores AS s
    JOIN trained AS t USING (client_id)
    WHERE list_contains($measures::VARCHAR[], s.measure)
      AND score_period(s.administered_date, t.intake_date, t.discharge_date, $baseline_days::INTEGER)
          = 'treatment'
),
intake AS (
    -- the first score (the lowest of the first day's), its weeks and whole week
    SELECT fit_scope, client_id, measure, min({'d': administered_date, 'y': y}).y AS x0, min(weeks) AS t0
    FROM scored
    GROUP BY fit_scope, client_id, measure
    HAVING min(week) <= $intake_max_week::BIGINT
),
later AS MATERIALIZED (
    -- L > 0 exactly when the score is given after the intake score's week fraction
    SELECT s.fit_scope, s.client_id, s.measure, s.administered_date, s.y, s.weeks, i.x0,
           ln(1 + s.weeks) - ln(1 + i.t0) AS l
    FROM scored AS s
    JOIN intake AS i USING (fit_scope, client_id, measure)
    WHERE s.weeks > i.t0
),
per_client AS (
    SELECT
        fit_scope, measure, client_id, x0,
        count(*) AS n,
        sum(l * l) AS aa,
        sum(l * l * x0) AS ab,
        sum(l * l * x0 * x0) AS bb,
        sum(l * (y - x0)) AS ar,
        sum(l * x0 * (y - x0)) AS br
    FROM later
    GROUP BY fit_scope, measure, client_id, x0
),
sums AS (
    SELECT
        fit_scope,
        measure,
        count(*) AS n_clients,
        sum(n) AS n_scores,
        sum(aa / n) AS saa,
        sum(ab / n) AS sab,
        sum(bb / n) AS sbb,
        sum(ar / n) AS sar,
        sum(br / n) AS sbr
    FROM per_client
    GROUP BY fit_scope, measure
),
coefficients AS (
    SELECT
        fit_scope, measure, n_clients, n_scores,
        (sbb * sar - sab * sbr) / (saa * sbb - sab * sab) AS c0,
        (saa * sbr - sab * sar) / (saa * sbb - sab * sab) AS c1
    FROM sums
    WHERE n_clients >= $min_clients::BIGINT
),
cuts AS (
    SELECT fit_scope, measure, quantile_cont(x0, $intake_thirds::DOUBLE[]) AS cut
    FROM per_client
    GROUP BY fit_scope, measure
),
residual_rows AS (
    SELECT
        r.fit_scope, r.measure, r.client_id, r.administered_date, r.y,
        r.y - least(greatest(r.x0 + (c.c0 + c.c1 * r.x0) * greatest(r.l, 0),
                             ($min_scores::DOUBLE[])[list_position($measures::VARCHAR[], r.measure)]),
                    ($max_scores::DOUBLE[])[list_position($measures::VARCHAR[], r.measure)]) AS residual,
        len(list_filter($week_band_upper::DOUBLE[], lambda u: u < floor(r.weeks)))::INTEGER AS band,
        ((r.x0 >= k.cut[1])::INTEGER + (r.x0 >= k.cut[2])::INTEGER) AS third
    FROM later AS r
    JOIN coefficients AS c USING (fit_scope, measure)
    JOIN cuts AS k USING (fit_scope, measure)
),
client_bands AS (
    -- per client and week band: their residuals there (k_band; a client's intake third is one,
    -- x0 being theirs, so this is also their count in the cell of that band and third)
    SELECT fit_scope, measure, client_id, band, any_value(third) AS third, count(*) AS k_band
    FROM residual_rows
    GROUP BY fit_scope, measure, client_id, band
),
residuals AS MATERIALIZED (
    -- o: the residual's place in its scope and measure (by residual, ties by client, date, score),
    -- so every cell orders its residuals by one integer; k_band and k_all (the client's later
    -- scores: their count in the cells over all weeks) weigh it
    SELECT r.fit_scope, r.measure, r.client_id, r.residual, r.band, r.third, b.k_band, p.n AS k_all,
           row_number() OVER (PARTITION BY r.fit_scope, r.measure
                              ORDER BY r.residual, r.client_id, r.administered_date, r.y) AS o
    FROM residual_rows AS r
    JOIN client_bands AS b USING (fit_scope, measure, client_id, band)
    JOIN per_client AS p USING (fit_scope, measure, client_id)
),
cell_sizes AS (
    -- clients per cell (each client weighs 1: the total weight); -1 = pooled over that axis
    SELECT fit_scope, measure, CASE WHEN grouping(band) = 1 THEN -1 ELSE band END AS band,
           CASE WHEN grouping(third) = 1 THEN -1 ELSE third END AS third, count(DISTINCT client_id) AS n
    FROM client_bands
    GROUP BY GROUPING SETS ((fit_scope, measure, band, third), (fit_scope, measure, band),
                            (fit_scope, measure, third), (fit_scope, measure))
    HAVING (grouping(band) = 1 AND grouping(third) = 1) OR count(DISTINCT client_id) >= $min_cell_clients::BIGINT
),
cumulative AS MATERIALIZED (
    -- per residual, in each of its four cells: the weight of the cell's residuals up to it (in
    -- the order o), less half its own
    SELECT
        fit_scope, measure, band, third, residual,
        sum(1 / k_band::DOUBLE) OVER (PARTITION BY fit_scope, measure, band, third ORDER BY o
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - 0.5 / k_band::DOUBLE AS w_bt,
        sum(1 / k_band::DOUBLE) OVER (PARTITION BY fit_scope, measure, band ORDER BY o
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - 0.5 / k_band::DOUBLE AS w_b,
        sum(1 / k_all::DOUBLE) OVER (PARTITION BY fit_scope, measure, third ORDER BY o
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - 0.5 / k_all::DOUBLE AS w_t,
        sum(1 / k_all::DOUBLE) OVER (PARTITION BY fit_scope, measure ORDER BY o
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - 0.5 / k_all::DOUBLE AS w_a
    FROM residuals
),
keyed AS (
    SELECT fit_scope, measure, band, third, residual, w_bt AS w FROM cumulative
    UNION ALL
    SELECT fit_scope, measure, band, -1, residual, w_b FROM cumulative
    UNION ALL
    SELECT fit_scope, measure, -1, third, residual, w_t FROM cumulative
    UNION ALL
    SELECT fit_scope, measure, -1, -1, residual, w_a FROM cumulative
),
cdf AS (
    SELECT r.fit_scope, r.measure, r.band, r.third, r.residual, r.w / z.n AS p
    FROM keyed AS r
    JOIN cell_sizes AS z USING (fit_scope, measure, band, third)
),
brackets AS (
    SELECT
        fit_scope, measure, band, third,
        max(p) FILTER (WHERE p <= $band_low::DOUBLE) AS lo_p0,
        arg_max(residual, p) FILTER (WHERE p <= $band_low::DOUBLE) AS lo_v0,
        min(p) FILTER (WHERE p >= $band_low::DOUBLE) AS lo_p1,
        arg_min(residual, p) FILTER (WHERE p >= $band_low::DOUBLE) AS lo_v1,
        max(p) FILTER (WHERE p <= $band_high::DOUBLE) AS hi_p0,
        arg_max(residual, p) FILTER (WHERE p <= $band_high::DOUBLE) AS hi_v0,
        min(p) FILTER (WHERE p >= $band_high::DOUBLE) AS hi_p1,
        arg_min(residual, p) FILTER (WHERE p >= $band_high::DOUBLE) AS hi_v1
    FROM cdf
    GROUP BY fit_scope, measure, band, third
),
cells AS (
    SELECT
        fit_scope, measure, band, third, z.n,
        CASE WHEN lo_p0 IS NULL THEN lo_v1 WHEN lo_p1 IS NULL OR lo_p1 = lo_p0 THEN lo_v0
             ELSE lo_v0 + ($band_low::DOUBLE - lo_p0) * (lo_v1 - lo_v0) / (lo_p1 - lo_p0) END AS low,
        CASE WHEN hi_p0 IS NULL THEN hi_v1 WHEN hi_p1 IS NULL OR hi_p1 = hi_p0 THEN hi_v0
             ELSE hi_v0 + ($band_high::DOUBLE - hi_p0) * (hi_v1 - hi_v0) / (hi_p1 - hi_p0) END AS high
    FROM brackets
    JOIN cell_sizes AS z USING (fit_scope, measure, band, third)
)
SELECT
    s.fit_scope,
    s.measure,
    s.n_clients,
    s.n_scores,
    c.c0,
    c.c1,
    k.cut[1] AS cut_1,
    k.cut[2] AS cut_2,
    cells.band,
    cells.third,
    cells.low,
    cells.high,
    cells.n AS cell_clients
FROM sums AS s
LEFT JOIN coefficients AS c USING (fit_scope, measure)
LEFT JOIN cuts AS k USING (fit_scope, measure)
LEFT JOIN cells USING (fit_scope, measure)
ORDER BY s.fit_scope, s.measure, cells.band, cells.third
