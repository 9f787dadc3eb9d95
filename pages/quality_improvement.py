import streamlit as st

st.title("quality_improvement")
st.warning("Not built yet.")
