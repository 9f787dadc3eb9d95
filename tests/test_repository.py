"""The repository stands on its own: a clone has nothing beside it.

Every file the project tracks (code, tests, docs, scripts) must work and make sense without a
folder next to the clone; reference data live in tests/data/ with their source and licence,
and the clinical reference is docs/clinical-reference.md.
"""

from __future__ import annotations

import re
import subprocess

from tests.support.clinics import ROOT

OUTSIDE = re.compile(r"\.\./shared|/work/shared|parent\s*/\s*[\"']shared[\"']")


def tracked_text_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    this_file = "tests/test_repository.py"  # holds the pattern itself
    skip = (".png", ".duckdb", ".parquet", ".xlsx")
    return [name for name in out.splitlines() if name != this_file and not name.endswith(skip)]


def test_no_tracked_file_reads_or_cites_a_folder_beside_the_clone():
    offenders = []
    for name in tracked_text_files():
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        offenders += [f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert not offenders, offenders


def test_reference_data_are_inside_the_project_with_their_source():
    data = ROOT / "tests" / "data"
    readme = (data / "README.md").read_text(encoding="utf-8")
    for name in ("claus2020_hamd.csv", "suddengains_sgdata.csv", "nhstt/measures_annual_extract.parquet"):
        assert (data / name).stat().st_size > 0
        assert f"## {name}" in readme, f"{name} has no source section in tests/data/README.md"
    assert "MIT" in (data / "suddengains_LICENSE.txt").read_text(encoding="utf-8")
    assert "Open Government Licence v3.0" in readme.split("## nhstt/", 1)[1].split("\n## ", 1)[0]


def test_every_constant_source_the_code_cites_exists():
    reference = (ROOT / "docs" / "clinical-reference.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (.+)$", reference, flags=re.M))
    cited = set()
    for path in (ROOT / "analytics").rglob("*.py"):
        cited |= set(re.findall(r"clinical-reference\.md`{0,2},? (?:section )?\"([^\"]+)\"", path.read_text(encoding="utf-8")))
    assert len(cited) >= 5, cited  # the pattern still finds the code's citations

    def found(c: str) -> bool:
        return f"**{c}" in reference or any(s.startswith(c) or c.startswith(s) for s in sections)

    missing = {c for c in cited if not found(c)}
    assert not missing, f"sections cited in analytics/ but absent from docs/clinical-reference.md: {missing}"
