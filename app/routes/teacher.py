"""The teacher's page of a workshop room (app/navigation.py lists it only in a room)."""

from app.views import teacher

teacher.render()
