"""Fictional sample data for Between Sessions: a clinic export in the import format.

See :mod:`sample_data.generator` (``generate_clinic``, ``write_export``);
``sample_data/profiles/`` holds a worked mapping-profile example (a vendor-shaped export
and the TOML profile that maps it).
"""

from __future__ import annotations

from typing import Any

__all__ = ["AS_OF", "COLUMNS", "generate_clinic", "write_export"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``python -m sample_data.generator`` does not import the module twice.
    if name in __all__:
        from . import generator

        return getattr(generator, name)
    raise AttributeError(f"module 'sample_data' has no attribute {name!r}")
