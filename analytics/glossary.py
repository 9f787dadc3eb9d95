"""The glossary: one plain reading of every statistic, and the sections the glossary page shows.

Three parts, each a Markdown file under docs/ split at its ``## `` headings:

- ``clinicians`` (docs/glossary-clinicians.md): what each number means for your clients. Each
  section's first line, ``**For your clients:** ...``, is the term's **plain reading**
  (:func:`plain`): the one place the pages take their help texts and captions from.
- ``import-format`` (docs/import-format.md): how exports must look.
- ``developers`` (docs/metrics.md): the exact definitions, SQL macros, files and settings.

A section's anchor is its heading as GitHub makes it (``Hedges' g`` -> ``hedges-g``), so a link
``/glossary?term=hedges-g`` (:func:`link`) opens that entry on the glossary page and
``docs/glossary-clinicians.md#hedges-g`` works on GitHub too. A part's id opens the whole part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
# part id -> (title, file)
PARTS: dict[str, tuple[str, str]] = {
    "clinicians": ("For clinicians", "glossary-clinicians.md"),
    "import-format": ("Import format", "import-format.md"),
    "developers": ("For developers: exact definitions", "metrics.md"),
}
PLAIN_PREFIX = "**For your clients:**"
PAGE_PATH = "/glossary"


@dataclass(frozen=True)
class Section:
    """One ``## `` section of a glossary part: its anchor, heading and Markdown body."""

    part: str
    anchor: str
    title: str
    body: str

    @property
    def plain(self) -> str:
        """The section's plain reading (its ``**For your clients:**`` line), or ""."""
        for line in self.body.splitlines():
            if line.startswith(PLAIN_PREFIX):
                return line[len(PLAIN_PREFIX):].strip()
        return ""

    def matches(self, query: str) -> bool:
        """True when every word of ``query`` is in the heading or the body (any case)."""
        text = f"{self.title}\n{self.body}".casefold()
        return all(word in text for word in query.casefold().split())


def anchor(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@cache
def part_text(part: str) -> tuple[str, str]:
    """(introduction, full text) of a part's file: the text before its first ``## `` heading,
    without the file's ``# `` title, and the whole file without that title."""
    text = (DOCS / PARTS[part][1]).read_text(encoding="utf-8")
    body = text.split("\n", 1)[1] if text.startswith("# ") else text
    intro = re.split(r"^## ", body, maxsplit=1, flags=re.MULTILINE)[0]
    return intro.strip(), body.strip()


@cache
def sections(part: str | None = None) -> tuple[Section, ...]:
    """The ``## `` sections of one part (or of every part, in :data:`PARTS` order)."""
    if part is None:
        return tuple(s for p in PARTS for s in sections(p))
    _, body = part_text(part)
    out = []
    for chunk in re.split(r"^## ", body, flags=re.MULTILINE)[1:]:
        title, _, text = chunk.partition("\n")
        out.append(Section(part, anchor(title), title.strip(), text.strip()))
    return tuple(out)


def find(term: str) -> Section | None:
    """The section with anchor ``term`` (the clinicians' part first), or None."""
    return next((s for s in sections() if s.anchor == term), None)


def anchors() -> set[str]:
    """Every term a link may name: the part ids and the sections' anchors."""
    return set(PARTS) | {s.anchor for s in sections()}


def search(query: str) -> list[Section]:
    """The sections whose heading or text holds every word of ``query`` (all parts)."""
    query = query.strip()
    return [s for s in sections() if s.matches(query)] if query else list(sections())


def plain(term: str) -> str:
    """The plain reading of a clinicians' glossary term ("what this means for your clients").
    Raises KeyError for a term without one, so a page cannot show an empty help text."""
    section = find(term)
    if section is None or not section.plain:
        raise KeyError(f"no plain reading for glossary term {term!r} (docs/glossary-clinicians.md)")
    return section.plain


def link(term: str) -> str:
    """The glossary page's address showing ``term`` (an anchor or a part id)."""
    if term not in anchors():
        raise KeyError(f"{term!r} is not a glossary anchor")
    return f"{PAGE_PATH}?term={term}"


def help_text(term: str) -> str:
    """A help tooltip: the plain reading and where the full entry is."""
    return f"{plain(term)} More: Metrics glossary, \"{find(term).title}\"."  # type: ignore[union-attr]


def caption(*terms: str) -> str:
    """One caption line of plain readings: "Hedges' g: ... · Cohen's U3: ..."."""
    return " · ".join(f"**{find(t).title}**: {plain(t)}" for t in terms)  # type: ignore[union-attr]


__all__ = ["PARTS", "Section", "anchor", "anchors", "caption", "find", "help_text", "link", "plain", "search",
           "sections"]
