"""One module per page, each exposing `render()`; app/routes holds the scripts Streamlit runs
for them (not named pages/, which Streamlit would route on its own)."""
