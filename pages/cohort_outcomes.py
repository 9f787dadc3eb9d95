import streamlit as st

st.title("cohort_outcomes")
st.warning("Not built yet.")
