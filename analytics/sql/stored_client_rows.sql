-- Per-client rows stored at import (analytics/stored.py), read through the scoped cohort.
--
-- Each import ends by storing, for every client, the rows of three macros of macros.sql under the
-- settings in force (stored_settings, one row): client_homework_rows_live (homework per client),
-- client_measure_score_rows_live (first and last score per client and measure) and
-- client_paired_score_rows_live (NHS paired scores per client). The macros below are the names
-- every query calls. They return the stored rows of the cohort's clients when the caller's
-- settings are the stored ones, and otherwise compute the rows from the source tables with the
-- same macro; so there is one definition, and a stored row is exactly what the macro gives.
-- The stored settings are constants here (scalar macros stored_baseline_days() and so on, made
-- from stored_settings when the database is opened: analytics.stored.expose_stored_rows), so the
-- branch that does not apply is pruned before it runs (a subquery would not be: DuckDB would
-- compute both). They are NULL for a database imported before rows were stored: every call computes.
-- The stored tables hold every client; they are read only here, behind cohort_clients(cohort).

-- Homework per client (macro client_homework_rows_live; stored for every homework type).
CREATE OR REPLACE MACRO client_homework_rows(cohort, homework_types,
                                             unreviewed_as_not_done := false) AS TABLE
    SELECT h.*
    FROM stored_client_homework AS h
    WHERE homework_types IS NULL
      AND unreviewed_as_not_done = stored_unreviewed_as_not_done()
      AND h.client_id IN (SELECT client_id FROM cohort_clients(cohort))
    UNION ALL
    SELECT *
    FROM client_homework_rows_live(cohort, homework_types, unreviewed_as_not_done := unreviewed_as_not_done)
    WHERE homework_types IS NOT NULL
       OR unreviewed_as_not_done IS DISTINCT FROM stored_unreviewed_as_not_done();

-- First and last score per client and measure (macro client_measure_score_rows_live).
CREATE OR REPLACE MACRO client_measure_score_rows(cohort, baseline_days, measures, wanted_client) AS TABLE
    SELECT s.*
    FROM stored_client_measure_scores AS s
    WHERE baseline_days = stored_baseline_days()
      AND (measures IS NULL OR list_contains(measures, s.measure))
      AND (wanted_client IS NULL OR s.client_id = wanted_client)
      AND s.client_id IN (SELECT client_id FROM cohort_clients(cohort))
    UNION ALL
    SELECT *
    FROM client_measure_score_rows_live(cohort, baseline_days, measures, wanted_client)
    WHERE baseline_days IS DISTINCT FROM stored_baseline_days();

-- NHS Talking Therapies paired scores per client (macro client_paired_score_rows_live).
CREATE OR REPLACE MACRO client_paired_score_rows(cohort, depression_measure, anxiety_measure, baseline_days,
                                                 wanted_client) AS TABLE
    SELECT p.*
    FROM stored_client_paired_scores AS p
    WHERE (depression_measure, anxiety_measure, baseline_days)
          = (stored_depression_measure(), stored_anxiety_measure(), stored_baseline_days())
      AND (wanted_client IS NULL OR p.client_id = wanted_client)
      AND p.client_id IN (SELECT client_id FROM cohort_clients(cohort))
    UNION ALL
    SELECT *
    FROM client_paired_score_rows_live(cohort, depression_measure, anxiety_measure, baseline_days, wanted_client)
    WHERE (depression_measure, anxiety_measure, baseline_days)
          IS DISTINCT FROM (stored_depression_measure(), stored_anxiety_measure(), stored_baseline_days());

-- Sudden gains per client on one measure (analytics.sudden_gains.clients_sudden_gains): client_id,
-- first_week .. last_week (the gain's weeks since intake), magnitude (points of improvement),
-- reversed. found NULL: the gains stored at import for the cohort's clients, when they were found
-- under the same settings (baseline_days, the measure's reliable_change and direction), else none;
-- the caller passes NULL only then (ClinicDatabase.stored_gain_settings). Otherwise found holds the
-- gains the caller found anew with the same function, as a STRUCT of lists (client_ids,
-- first_weeks, last_weeks, magnitudes, reversed; one entry per gain) for the cohort's clients.
CREATE OR REPLACE MACRO sudden_gain_rows(cohort, measure, baseline_days, reliable_change, higher_is_better,
                                         found) AS TABLE
    SELECT g.client_id, g.first_week, g.last_week, g.magnitude, g.reversed
    FROM stored_sudden_gains AS g
    WHERE found IS NULL
      AND g.measure = measure
      AND (measure, baseline_days, reliable_change, higher_is_better) IN
          (SELECT (m.measure, m.baseline_days, m.reliable_change, m.higher_is_better) FROM stored_sudden_gain_measures AS m)
      AND g.client_id IN (SELECT client_id FROM cohort_clients(cohort))
    UNION ALL
    SELECT
        unnest(struct_extract(found, 'client_ids'))::VARCHAR AS client_id,
        unnest(struct_extract(found, 'first_weeks'))::BIGINT AS first_week,
        unnest(struct_extract(found, 'last_weeks'))::BIGINT AS last_week,
        unnest(struct_extract(found, 'magnitudes'))::DOUBLE AS magnitude,
        unnest(struct_extract(found, 'reversed'))::BOOLEAN AS reversed
    WHERE found IS NOT NULL;

-- Activity and homework per client and month (macro client_month_rows_live): the rows stored at
-- import for every client (stored_client_months; they depend on no setting) when the stored rows
-- can answer, that is when they exist (stored_client_months_present()), every homework type is
-- asked for and the period is whole calendar months; computed otherwise.
CREATE OR REPLACE MACRO reads_stored_client_months(homework_types, period_start, period_end) AS
    coalesce(stored_client_months_present() AND homework_types IS NULL
             AND period_start = date_trunc('month', period_start)
             AND period_end = last_day(period_end), false);

CREATE OR REPLACE MACRO client_month_rows(cohort, homework_types, period_start, period_end) AS TABLE
    SELECT m.*
    FROM stored_client_months AS m
    WHERE reads_stored_client_months(homework_types, period_start, period_end)
      AND m.month BETWEEN period_start AND period_end
      AND m.client_id IN (SELECT client_id FROM cohort_clients(cohort))
    UNION ALL
    SELECT *
    FROM client_month_rows_live(cohort, homework_types, period_start, period_end)
    WHERE NOT reads_stored_client_months(homework_types, period_start, period_end);
