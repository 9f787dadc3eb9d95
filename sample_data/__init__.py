"""Fictional sample data for Between Sessions: a clinic export in the import format.

See :mod:`sample_data.generator`; ``sample_data/profiles/`` holds a worked mapping-profile
example (a vendor-shaped export and the TOML profile that maps it).
"""

from .generator import AS_OF, COLUMNS, generate_clinic, write_export

__all__ = ["AS_OF", "COLUMNS", "generate_clinic", "write_export"]
