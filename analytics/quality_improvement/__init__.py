"""Back-end of the Quality improvement page (``pages/quality_improvement.py``), de-identified.

- ``model``: trends, comparisons (funnel plots), alerts and the published tables;
- ``charts``: the page's figures;
- ``meeting_pack``: the QI meeting pack export (PDF, HTML, CSV zip);
- ``sql/``: the page's queries (one per file).
"""
