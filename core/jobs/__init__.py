"""Jobs: a recipe run on a model, queued in the database and executed by worker processes.

`core.jobs.spec` and `core.jobs.store` need no torch (the web app submits, cancels and
reads jobs through them); `core.jobs.runner` and `core.jobs.worker` run the engine."""
