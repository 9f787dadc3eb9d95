-- Expected recovery curves stored at import (analytics/stored.py, store_expected_fits): the rows
-- the fit query (expected_response_fit.sql) gave for one scope, $fit_scope ('cohort' = the whole
-- network, 'clinic:<name>' = one clinic), in the same columns and order. Only
-- analytics.expected_response reads it, and only for the scope that is exactly the viewer's, under
-- the settings the fit was stored with (ClinicDatabase.stored_fit_scopes).
SELECT
    fit_scope, measure, n_clients, n_scores, c0, c1, cut_1, cut_2, band, third, low, high, cell_clients
FROM stored_expected_response_fit
WHERE fit_scope = $fit_scope::VARCHAR
ORDER BY measure, band, third
