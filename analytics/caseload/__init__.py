"""Back-end of the Caseload page (``pages/caseload.py``): ``model`` and ``sql/``."""
