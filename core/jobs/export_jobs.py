"""Export jobs: a finished job's model written to a serving format. The export job rebuilds
that job's model (same model, steps, device, dtype and protocol), writes it, reads it back
and scores it against the job's own perplexity; its artifact belongs to the job. Torch-free,
so the Results page can offer it."""

from __future__ import annotations

import math

from sqlalchemy import Engine

from core.export.formats import FORMATS, format_problem
from core.jobs import states, store
from core.jobs.results import job_result
from core.jobs.spec import ExportRequest, InvalidJobError, JobSpec


def export_spec(engine: Engine, job_id: int, fmt: str) -> JobSpec:
    """The spec of an export of job `job_id` to `fmt`; InvalidJobError saying why not."""
    if fmt not in FORMATS:
        raise InvalidJobError(f"unknown export format {fmt!r}: choose one of "
                              f"{', '.join(FORMATS)}")
    job = store.get_job(engine, job_id)
    if job is None:
        raise InvalidJobError(f"there is no job {job_id}")
    if job.export:
        raise InvalidJobError(f"job {job_id} is itself an export; export job "
                              f"{job.export['of_job']} instead")
    if job.status != states.SUCCEEDED:
        raise InvalidJobError(f"job {job_id} is {job.status}: only a finished job's model, "
                              "whose perplexity the export is checked against, is exported")
    if not job.recipe:
        raise InvalidJobError(f"job {job_id} measured the model as it is (no steps): there "
                              "is no compressed model to export")
    problem = format_problem(fmt, [step["recipe"] for step in job.recipe])
    if problem:
        raise InvalidJobError(f"job {job_id} cannot be exported as {fmt}: {problem}")
    result = job_result(engine, job_id)
    reference = next((m.value for m in (result.metrics if result else []) if m.name == "ppl"),
                     None)
    if reference is not None and not math.isfinite(reference):
        # No read-back can be within 1% of it; and the export request, stored as JSON,
        # cannot hold inf or nan on PostgreSQL (SQLite stored them).
        raise InvalidJobError(f"job {job_id} measured a perplexity of {reference}: its model "
                              "is broken, and an export could not be checked against it")
    original = store.spec_of(job)
    return original.model_copy(update={
        "export": ExportRequest(of_job=job_id, format=fmt, reference_ppl=reference),
        "label": f"export of job {job_id} to {fmt}", "save_model": False,
        "technique_slug": job.technique_slug,
    })


def submit_export(engine: Engine, job_id: int, fmt: str, *,
                  owner_session: str | None = None) -> int:
    """Queue the export of job `job_id` to `fmt` on the job's own device (a packed CPU
    kernel's model is rebuilt on the CPU); an identical export queued or running already is
    returned instead of a second one."""
    spec = export_spec(engine, job_id, fmt)
    job = store.get_job(engine, job_id)
    twin = store.active_twin(engine, spec, job.device)
    if twin is not None:
        return twin
    from core.jobs.estimate import estimate_job

    guess = estimate_job(engine, spec, job.device)
    return store.submit(engine, spec, device=job.device, owner_session=owner_session,
                        estimate_s=guess.seconds)
