"""Test support shared by the suite, the browser suite and the benchmark (not tests themselves)."""
