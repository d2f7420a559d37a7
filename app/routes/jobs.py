"""The Jobs page: live progress of every job. Streamlit runs this script for the page
(app/navigation.py lists it)."""

from app.views import jobs

jobs.render()
