"""Metrics glossary: the one definition of every number the dashboard shows."""

from pathlib import Path

import streamlit as st

import ui

GLOSSARY = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"

ui.page("Metrics glossary", "The one definition of every number the dashboard shows, exports and prints.")
st.markdown(GLOSSARY.read_text(encoding="utf-8").split("\n", 1)[1])
