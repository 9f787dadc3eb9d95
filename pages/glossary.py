"""Glossary: what every number means for your clients, the import format, and the developers'
exact definitions; searchable, and ``?term=<anchor>`` opens one entry (analytics.glossary)."""

import streamlit as st

import ui
from analytics import glossary
from ui.text import md

PAGE_PARTS = tuple(glossary.PARTS)


def show_section(section: glossary.Section, *, label_part: bool = False) -> None:
    """One entry under its heading; the heading carries the entry's anchor (#hedges-g)."""
    title = section.title + (f" ({glossary.PARTS[section.part][0].lower()})" if label_part else "")
    st.subheader(title, anchor=section.anchor)
    st.markdown(section.body)


def show_part(part: str) -> None:
    intro, _ = glossary.part_text(part)
    if intro:
        st.markdown(intro)
    for section in glossary.sections(part):
        show_section(section)


ui.page("Metrics glossary", "What every number means for your clients, how exports must look, and the exact "
        "definitions for developers.")
term = st.query_params.get("term")
query = st.text_input("Search the glossary", key="glossary_search", placeholder="e.g. recovery, Hedges, CORE-10",
                      help="Shows the entries whose heading or text holds every word you type.")

if query.strip():
    found = glossary.search(query)
    st.caption(f"{len(found)} {'entry matches' if len(found) == 1 else 'entries match'} “{md(query.strip())}”.")
    if not found:
        st.info("No entry holds every word. Try fewer or shorter words.")
    for section in found:
        show_section(section, label_part=True)
elif term in glossary.PARTS:
    st.header(glossary.PARTS[term][0], anchor=term)
    show_part(term)
elif term and glossary.find(term) is not None:
    section = glossary.find(term)
    show_section(section, label_part=True)
    st.caption("Clear the address's ?term= or search above to see every entry.")
else:
    if term:
        st.info(f"The glossary has no entry \"{md(term)}\"; here is all of it.", icon=":material/info:")
    for tab, part in zip(st.tabs([glossary.PARTS[p][0] for p in PAGE_PARTS]), PAGE_PARTS, strict=True):
        with tab:
            show_part(part)
