import streamlit as st

st.title("client_review")
st.warning("Not built yet.")
