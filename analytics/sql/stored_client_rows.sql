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
