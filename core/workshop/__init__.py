"""Workshop mode: one server carrying a room of attendees (issue 14). Torch-free: the web
server reads the room's file, and the job layer admits attendees' jobs by it."""
