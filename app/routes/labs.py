"""The Labs page: guided lessons with one prepared run each. Streamlit runs this script for
the page (app/navigation.py lists it)."""

from app.views import labs

labs.render()
