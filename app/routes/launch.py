"""The Launch page: a technique's settings, a model and a device, then a job. Streamlit runs
this script for the page (app/navigation.py lists it)."""

from app.views import launch

launch.render()
