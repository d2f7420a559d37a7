"""The Compare page: techniques side by side. Streamlit runs this script for the page
(app/navigation.py lists it)."""

from app.views import compare

compare.render()
