"""Every table OptAtlas keeps, gathered on one metadata: what migrations and schema checks
compare against."""

from __future__ import annotations

from db import job_models, models

metadata = models.Base.metadata
# Importing job_models registered its tables on the shared Base; keep the name in use.
TABLE_MODULES = (models, job_models)
