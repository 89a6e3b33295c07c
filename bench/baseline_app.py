"""Baseline for the cold-start ratio: the smallest Streamlit page with one Altair chart."""

import altair as alt
import pandas as pd
import streamlit as st

st.title("Baseline")
st.altair_chart(
    alt.Chart(pd.DataFrame({"x": range(50), "y": range(50)})).mark_circle().encode(x="x:Q", y="y:Q"),
    width="stretch",
)
