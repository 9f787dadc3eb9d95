"""Getting data in: the importer (validation, rejects, atomic swap), mapping profiles, and the
seeded sample clinic loaded through the same import path."""
