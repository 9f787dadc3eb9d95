-- Dashboard users and their roles (analytics/access.py), for the admin page and the CLI.
-- Not client data: no cohort scope. clinics is a list of clinic names.
SELECT email, role, clinics, therapist_id, added_at
FROM users
ORDER BY CASE role WHEN 'admin' THEN 1 WHEN 'supervisor' THEN 2 WHEN 'therapist' THEN 3 ELSE 4 END, email
