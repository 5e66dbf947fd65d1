"""Streamlit glue shared by the pages (not a page itself): session store and cached
queries, URL state, the filter sidebar, the Plotly theme and KPI tiles."""
