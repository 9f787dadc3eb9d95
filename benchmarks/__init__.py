"""Benchmarks of Between Sessions at clinic-network scale: ``python -m analytics bench``.

See :mod:`benchmarks.bench`; results go to docs/benchmarks.md. Speed is measured here, never
asserted in unit tests.
"""
