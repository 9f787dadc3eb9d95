"""Metrics glossary: the one definition of every number the dashboard shows."""

from pathlib import Path

import streamlit as st

GLOSSARY = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"

st.markdown(GLOSSARY.read_text(encoding="utf-8"))
