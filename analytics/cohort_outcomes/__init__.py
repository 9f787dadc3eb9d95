"""Back-end of the Cohort outcomes page (``pages/cohort_outcomes.py``).

- ``model``: the cohort's analyses (homework-outcome relation, bands, trajectories,
  clinical significance, within-client model, follow-up);
- ``charts``: the page's figures;
- ``sql/``: the page's queries (one per file).
"""
