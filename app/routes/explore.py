"""The Explore page: tree, chart, search and a node's details. Streamlit runs this script for
the page (app/navigation.py lists it)."""

from app.views import explore

explore.render()
