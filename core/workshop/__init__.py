"""Workshop mode: one server carrying a room of attendees (issue 14). This package holds the
room's file and its passcodes, torch- and database-free; admitting attendees' jobs and
their seats live with the jobs (core.jobs.admission, core.jobs.seats)."""
