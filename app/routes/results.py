"""The Results page: measured runs side by side. Streamlit runs this script for the page
(app/navigation.py lists it)."""

from app.views import results

results.render()
