"""One module per page (not named pages/, which Streamlit would route on its own); each exposes `render()`."""
