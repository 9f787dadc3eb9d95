"""Benchmarks of Between Sessions at clinic-network scale: ``python -m analytics bench``.

``bench`` runs the steps, each in its own process, and writes the report; ``common`` holds
the sizes, targets and datasets; one module a measured step (``step_import``, ``step_pages``,
``step_browser``, ``step_baseline``); ``report`` writes docs/benchmarks.md. The server and
browser helpers are the test suite's (tests/support/). Speed is measured here, never asserted
in unit tests.
"""
