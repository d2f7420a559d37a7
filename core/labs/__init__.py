"""Guided labs: content files a teacher can copy and edit, each a question answered by one
prepared run beside the gallery's measured runs."""
