-- One client, only if the viewer may see them (deep links). A client outside the scope
-- gives no row, exactly like a client that does not exist: "not found" either way.
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
)
SELECT client_id, clinic, therapist_id, program, primary_concern, intake_date, discharge_date
FROM cohort
WHERE client_id = $client_id::VARCHAR
