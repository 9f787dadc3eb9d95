-- Expected recovery curves stored at import (analytics/stored.py, store_expected_fits): the rows
-- the fit query (expected_response_fit.sql) gave for one scope, the one that is exactly $cohort's
-- (macro stored_scope: 'cohort' = the whole network, 'clinic:<name>' = one clinic; none for a
-- therapist's caseload, several clinics or any filter), in the same columns and order. Only
-- analytics.expected_response reads it, and only under the settings the fit was stored with
-- (ClinicDatabase.stored_fit_scopes).
SELECT
    f.fit_scope, f.measure, f.n_clients, f.n_scores, f.c0, f.c1, f.cut_1, f.cut_2, f.band, f.third, f.low, f.high,
    f.cell_clients
FROM stored_expected_response_fit AS f
WHERE f.fit_scope = stored_scope($cohort)
ORDER BY f.measure, f.band, f.third
