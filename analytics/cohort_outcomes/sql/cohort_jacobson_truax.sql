-- Jacobson & Truax (1991) clinical significance of a cohort, per measure, counted in the database:
-- one row per measure of $norms, never one per client (the Clinical significance tab).
--
-- The definitions are those of analytics.statistics.jacobson_truax (its docstring; the Python
-- reference, which tests/test_cohort.py compares with this query on the fixture clinics):
-- over the measure's paired clients (classified_outcomes: last score later than the first) with
-- both scores, SD_pre = the sample SD of their first scores, S_diff = sqrt(2 SE^2) with
-- SE = SD_pre sqrt(1 - reliability), RC = (last - first) / S_diff; reliable improvement when
-- sign * RC < -$critical_value, reliable deterioration when sign * RC > $critical_value (sign = 1
-- when lower is better, -1 when higher is better). Cut-offs: a = M_dys - 2 sign SD_dys (M_dys,
-- SD_dys: mean and sample SD of the first scores), b = M_func + 2 sign SD_func, c = (SD_dys M_func
-- + SD_func M_dys) / (SD_dys + SD_func); the one used (norm.cutoff, NULL = none) classes
-- "recovered" (reliable improvement, first on the dysfunctional side: sign * first > sign * cut,
-- last on the functional side: sign * last < sign * cut) and "harmed" (reliable deterioration,
-- first functional and last dysfunctional). Below two pairs or with equal first scores nothing is
-- classed (too_few; message as the Python reference's).
--
-- $norms: list of STRUCT(measure, reliability, functional_mean, functional_sd, cutoff, lower_is_better).
WITH norms AS (
    SELECT unnest($norms, recursive := true)
),
scores AS (
    SELECT * FROM client_measure_score_rows($cohort, $baseline_days::INTEGER,
                                            (SELECT list(measure) FROM norms), NULL::VARCHAR)
),
classified AS (
    SELECT measure, first_score::DOUBLE AS pre, last_score::DOUBLE AS post
    FROM classified_outcomes(scores, $measure_definitions)
    WHERE paired
),
moments AS (
    SELECT
        measure,
        count(*)::BIGINT AS paired,
        count(*) FILTER (WHERE isfinite(pre) AND isfinite(post))::BIGINT AS n_complete,
        avg(pre) FILTER (WHERE isfinite(pre) AND isfinite(post)) AS mean_pre,
        stddev_samp(pre) FILTER (WHERE isfinite(pre) AND isfinite(post)) AS sd_pre,
        min(pre) FILTER (WHERE isfinite(pre) AND isfinite(post))
            = max(pre) FILTER (WHERE isfinite(pre) AND isfinite(post)) AS constant_pre
    FROM classified
    GROUP BY measure
),
parameters AS (
    SELECT
        n.measure,
        n.reliability,
        n.functional_mean,
        n.functional_sd,
        n.cutoff,
        CASE WHEN n.lower_is_better THEN 1.0 ELSE -1.0 END AS sign,
        coalesce(m.paired, 0) AS paired,
        coalesce(m.n_complete, 0) AS n_complete,
        CASE
            WHEN coalesce(m.n_complete, 0) < 2
                THEN 'too few complete pairs to estimate SD_pre (n=' || coalesce(m.n_complete, 0) || ', need 2)'
            WHEN m.constant_pre THEN 'pre scores have zero variance; SD_pre undefined (pass sd_pre)'
        END AS message,
        m.mean_pre,
        m.sd_pre
    FROM norms AS n
    LEFT JOIN moments AS m USING (measure)
),
thresholds AS (
    SELECT
        *,
        CASE WHEN message IS NULL THEN sqrt(2.0 * (sd_pre * sqrt(1.0 - reliability)) ^ 2) END AS s_diff,
        CASE WHEN message IS NULL AND cutoff IS NOT NULL THEN mean_pre - sign * 2.0 * sd_pre END AS cutoff_a,
        CASE WHEN message IS NULL AND functional_mean IS NOT NULL
            THEN functional_mean + sign * 2.0 * functional_sd END AS cutoff_b,
        CASE WHEN message IS NULL AND functional_mean IS NOT NULL
            THEN (sd_pre * functional_mean + functional_sd * mean_pre) / (sd_pre + functional_sd) END AS cutoff_c
    FROM parameters
),
used AS (
    SELECT
        *,
        CASE cutoff WHEN 'a' THEN cutoff_a WHEN 'b' THEN cutoff_b WHEN 'c' THEN cutoff_c END AS cut
    FROM thresholds
),
categorised AS (
    SELECT
        u.measure,
        CASE
            WHEN u.sign * (c.post - c.pre) / u.s_diff < -$critical_value
                 AND u.cut IS NOT NULL AND u.sign * c.pre > u.sign * u.cut AND u.sign * c.post < u.sign * u.cut
                THEN 'recovered'
            WHEN u.sign * (c.post - c.pre) / u.s_diff < -$critical_value THEN 'improved'
            WHEN u.sign * (c.post - c.pre) / u.s_diff > $critical_value
                 AND u.cut IS NOT NULL AND NOT (u.sign * c.pre > u.sign * u.cut)
                 AND NOT (u.sign * c.post < u.sign * u.cut)
                THEN 'harmed'
            WHEN u.sign * (c.post - c.pre) / u.s_diff > $critical_value THEN 'deteriorated'
            ELSE 'unchanged'
        END AS category
    FROM classified AS c
    JOIN used AS u USING (measure)
    WHERE u.message IS NULL AND isfinite(c.pre) AND isfinite(c.post)
),
counts AS (
    SELECT
        measure,
        count(*) FILTER (WHERE category = 'recovered')::BIGINT AS recovered,
        count(*) FILTER (WHERE category = 'improved')::BIGINT AS improved,
        count(*) FILTER (WHERE category = 'unchanged')::BIGINT AS unchanged,
        count(*) FILTER (WHERE category = 'deteriorated')::BIGINT AS deteriorated,
        count(*) FILTER (WHERE category = 'harmed')::BIGINT AS harmed
    FROM categorised
    GROUP BY measure
)
SELECT
    u.measure,
    u.paired,
    u.n_complete,
    u.message,
    CASE WHEN u.message IS NULL THEN u.sd_pre END AS sd_pre,
    u.s_diff,
    u.cutoff_a,
    u.cutoff_b,
    u.cutoff_c,
    coalesce(k.recovered, 0) AS recovered,
    coalesce(k.improved, 0) AS improved,
    coalesce(k.unchanged, 0) AS unchanged,
    coalesce(k.deteriorated, 0) AS deteriorated,
    coalesce(k.harmed, 0) AS harmed
FROM used AS u
LEFT JOIN counts AS k USING (measure)
ORDER BY u.measure
