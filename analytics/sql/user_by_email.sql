-- The users row of one signed-in e-mail address (already lower-case and trimmed), if any.
-- Not client data: no cohort scope.
SELECT email, role, clinics, therapist_id
FROM users
WHERE email = $email::VARCHAR
