"""The job commands of `optatlas`: run, jobs, cancel, retry, export, worker, executor.

They go through the same queue as the web app: `run` submits a job and, unless an executor
is serving the queue, runs it in this process as a worker would."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path

from core.jobs import states


class _StepAction(argparse.Action):
    """`--recipe NAME` starts a step; the `--set` pairs after it belong to that step."""

    def __call__(self, parser, namespace, values, option_string=None):
        steps = getattr(namespace, "steps", None) or []
        if option_string == "--recipe":
            steps.append({"recipe": values, "settings": {}})
        else:
            if not steps:
                parser.error("--set comes after the --recipe it configures")
            for pair in values:
                key, sep, text = pair.partition("=")
                if not sep or not key:
                    parser.error(f"--set takes key=value pairs, not {pair!r}")
                steps[-1]["settings"][key] = _value(text)
        namespace.steps = steps


def _value(text: str):
    # Numbers, booleans, null and JSON lists as JSON; anything else as the text itself.
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="default",
                        help="'default', a Hugging Face id[@revision], a local folder, or 'tiny'")
    parser.add_argument("--recipe", action=_StepAction, dest="steps", metavar="NAME",
                        help="a technique step (repeat to stack steps, in order)")
    parser.add_argument("--set", action=_StepAction, dest="steps", nargs="+", metavar="KEY=VALUE",
                        help="settings of the preceding --recipe")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--eval-windows", type=int, default=16)
    parser.add_argument("--speed", default="auto", choices=["auto", "full", "decode_b1", "none"],
                        help="auto (default): timed for real runs, not for simulated ones")
    parser.add_argument("--no-diagnostics", action="store_true")
    parser.add_argument("--no-compile", action="store_true",
                        help="time decode without compiling its step (no compile wait)")
    parser.add_argument("--save", action="store_true", help="save the compressed model")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--label", default="")
    parser.add_argument("--queue", action="store_true",
                        help="only queue the job (an executor or worker runs it)")
    parser.add_argument("--json", type=Path, help="write the result here")


def _engine():
    from db.engine import make_engine
    from db.migrate import upgrade

    engine = make_engine()
    upgrade(engine)
    return engine


def run(args: argparse.Namespace) -> int:
    from core.jobs import store
    from core.jobs.estimate import estimate_job
    from core.jobs.executor import executor_running
    from core.jobs.spec import InvalidJobError, validate_spec

    spec = {
        "model": args.model, "steps": args.steps or [], "device": args.device,
        "dtype": args.dtype, "save_model": args.save, "time_limit_s": args.time_limit,
        "label": args.label,
        "measure": {"eval_windows": args.eval_windows, "speed": args.speed,
                    "diagnostics": not args.no_diagnostics, "compile": not args.no_compile},
    }
    engine = _engine()
    in_process = not args.queue and not executor_running()
    try:
        job = validate_spec(spec)
        device = _local_device(job.device) if in_process else None
        found = _preflight(engine, job, in_process=in_process)
        for note in found.unchecked:
            print(f"Not checked: {note}", file=sys.stderr)
        if not found.ok:
            raise InvalidJobError(found.summary())
        # The device the queue will give it: an "auto" job goes where store.submit sends it.
        target = device or (store.pick_device(engine) if job.device == "auto" else job.device)
        guess = estimate_job(engine, job, target, shape=found.shape)
        job_id = store.submit(engine, job, device=device, estimate_s=guess.seconds)
    except InvalidJobError as error:
        print(f"Not queued: {error}", file=sys.stderr)
        return 2
    job = store.get_job(engine, job_id)
    print(f"Job {job_id} queued: {job.label} on {job.model_ref} ({job.device})", file=sys.stderr)
    if args.queue:
        return 0
    if executor_running():
        print("An executor serves the queue; following the job (Ctrl-C stops following, "
              "not the job).", file=sys.stderr)
        status = _follow(engine, job_id)
    else:
        from core.jobs.worker import JobWorker

        status = JobWorker(engine, job.device).run_one(job_id)
    return _report(engine, job_id, status, args.json)


def _local_device(device: str) -> str:
    """The device this process will run the job on; InvalidJobError when it has none such."""
    from core.engine.devices import resolve_device
    from core.jobs.spec import InvalidJobError

    try:
        resolved = resolve_device(device)
    except (RuntimeError, ValueError) as error:
        raise InvalidJobError(f"device {device!r}: {error}") from None
    if resolved.type == "cuda" and resolved.index is not None:
        import torch

        if resolved.index >= torch.cuda.device_count():
            raise InvalidJobError(f"this machine has no {device} (it has "
                                  f"{torch.cuda.device_count()} CUDA device(s))")
    return str(resolved)


def _preflight(engine, job, *, in_process: bool):
    import socket

    from core.jobs import store
    from core.jobs.preflight import WorkerSeat, check_job

    # Run here, the job needs nothing of a worker; queued, it needs one for its device.
    workers = None if in_process else [WorkerSeat(w.device, w.host)
                                       for w in store.live_workers(engine)]
    return check_job(job, workers=workers, host=socket.gethostname())


def _follow(engine, job_id: int) -> str:
    from core.jobs import store

    seen = ""
    while True:
        job = store.get_job(engine, job_id)
        line = f"{job.status}: {job.progress_stage} {job.progress_fraction:.0%}"
        if line != seen:
            print(line, file=sys.stderr)
            seen = line
        if job.status in states.FINISHED:
            return job.status
        time.sleep(1.0)


def _job_with_artifacts(engine, job_id: int):
    from sqlalchemy.orm import selectinload

    from db.engine import transaction
    from db.job_models import Job

    with transaction(engine) as session:
        return session.get(Job, job_id, options=[selectinload(Job.artifacts)])


def _report(engine, job_id: int, status: str, json_path: Path | None) -> int:
    from core.jobs import results

    job = _job_with_artifacts(engine, job_id)
    if status != states.SUCCEEDED:
        advice = states.ERROR_ADVICE.get(job.error_kind or "", "")
        print(f"Job {job_id} {job.status}: {job.error_message or ''}", file=sys.stderr)
        if advice:
            print(f"What to do: {advice}", file=sys.stderr)
        return 1
    row = results.job_result(engine, job_id)
    measurement = results.to_measurement(row)
    print(measurement.table())
    if json_path:
        json_path.write_text(json.dumps(_export_record(job, row), indent=2, default=str))
        print(f"wrote {json_path}", file=sys.stderr)
    return 0


def jobs(args: argparse.Namespace) -> int:
    from core.jobs import store

    engine = _engine()
    rows = store.list_jobs(engine, limit=1_000_000 if args.all else args.limit)
    if not rows:
        print("No jobs yet. Start one: optatlas run --model default --recipe rtn --set bits=4")
        return 0
    print(f"{'id':>5}  {'status':<11} {'progress':<28} {'device':<7} {'model':<22} job")
    for job in rows:
        progress = f"{job.progress_stage[:20]} {job.progress_fraction:.0%}"
        print(f"{job.id:>5}  {job.status:<11} {progress:<28} {job.device:<7} "
              f"{job.model_ref[:22]:<22} {job.label}")
        if job.error_message and job.status != states.SUCCEEDED:
            kind = f"{job.error_kind}: " if job.error_kind else ""
            print(f"{'':>7}{kind}{job.error_message}")
    return 0


def cancel(args: argparse.Namespace) -> int:
    from core.jobs import store

    try:
        outcome = store.request_cancel(_engine(), args.job_id)
    except store.JobStateError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"job {args.job_id}: {outcome}")
    return 0


def retry(args: argparse.Namespace) -> int:
    from core.jobs import store

    try:
        store.retry(_engine(), args.job_id)
    except store.JobStateError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"job {args.job_id}: queued again")
    return 0


def _export_record(job, row) -> dict:
    from core.jobs.results import to_measurement

    measurement = to_measurement(row)
    return {
        "job": {"id": job.id, "status": job.status, "model": job.model_ref,
                "recipe": job.recipe, "device": job.device, "attempt": job.attempt,
                "artifacts": [{"path": a.path, "bytes": a.bytes, "format": a.format,
                               "details": a.details} for a in job.artifacts]},
        **measurement.row(),
        "spread": measurement.spread, "device": measurement.device,
        "device_name": measurement.device_name, "notes": measurement.notes,
        "diagnostics": row.diagnostics,
    }


def export_model(args: argparse.Namespace) -> int:
    """Write job ID's model in a serving format, as an export job, and report its read-back."""
    from core.jobs.executor import executor_running
    from core.jobs.export_jobs import submit_export
    from core.jobs.spec import InvalidJobError

    engine = _engine()
    try:
        export_id = submit_export(engine, args.job_id, args.format)
    except InvalidJobError as error:
        print(f"Not exported: {error}", file=sys.stderr)
        return 2
    job = store_job(engine, export_id)
    print(f"Job {export_id} queued: {job.label} ({job.device}); it rebuilds job "
          f"{args.job_id}'s model, writes it and reads it back", file=sys.stderr)
    if args.queue:
        return 0
    if executor_running():
        status = _follow(engine, export_id)
    else:
        from core.jobs.worker import JobWorker

        status = JobWorker(engine, job.device).run_one(export_id)
    finished = store_job(engine, export_id)
    if status != states.SUCCEEDED:
        print(f"Job {export_id} {finished.status}: {finished.error_message or ''}",
              file=sys.stderr)
        return 1
    owner = _job_with_artifacts(engine, args.job_id)
    artifact = max((a for a in owner.artifacts if a.format == args.format),
                   key=lambda a: a.id)
    print(f"{artifact.path}\n{describe_artifact(artifact)}")
    return 0


def store_job(engine, job_id: int):
    from core.jobs import store

    return store.get_job(engine, job_id)


def describe_artifact(artifact) -> str:
    """One line on a stored artifact: its format, size and read-back figure."""
    from core.export.formats import describe

    return describe(artifact.format, artifact.bytes, artifact.details or {})


def export(args: argparse.Namespace) -> int:
    from core.export.formats import FORMATS
    from core.jobs import results

    if args.format in FORMATS:
        return export_model(args)
    engine = _engine()
    job = _job_with_artifacts(engine, args.job_id)
    if job is None:
        print(f"there is no job {args.job_id}", file=sys.stderr)
        return 1
    row = results.job_result(engine, args.job_id)
    if row is None:
        print(f"job {args.job_id} is {job.status} and has no result to export", file=sys.stderr)
        return 1
    record = _export_record(job, row)
    if args.format == "csv":
        buffer = io.StringIO()
        flat = {k: v for k, v in record.items() if not isinstance(v, (dict, list))}
        writer = csv.DictWriter(buffer, fieldnames=list(flat))
        writer.writeheader()
        writer.writerow(flat)
        text = buffer.getvalue()
    else:
        text = json.dumps(record, indent=2, default=str)
    if args.output:
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0


def add_commands(commands) -> None:
    """Register the job commands on the `optatlas` sub-parser set."""
    run_parser = commands.add_parser("run", help="run a technique recipe on a model, as a job")
    add_run_arguments(run_parser)
    run_parser.set_defaults(handler=run)
    jobs_parser = commands.add_parser("jobs", help="list jobs")
    jobs_parser.add_argument("--limit", type=int, default=30)
    jobs_parser.add_argument("--all", action="store_true", help="every job, not the latest")
    jobs_parser.set_defaults(handler=jobs)
    for name, handler, text in (
        ("cancel", cancel, "cancel a queued or running job"),
        ("retry", retry, "queue a failed, cancelled or interrupted job again"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("job_id", type=int)
        sub.set_defaults(handler=handler)
    export_parser = commands.add_parser(
        "export", help="a finished job's result as JSON or CSV, or its model as "
        "compressed-tensors (vLLM), GGUF (llama.cpp) or safetensors, read back and checked")
    export_parser.add_argument("job_id", type=int)
    export_parser.add_argument(
        "--format", choices=["json", "csv", "compressed-tensors", "gguf", "safetensors"],
        default="json", help="json or csv: the result; a model format: the compressed model, "
        "rebuilt by an export job, written, read back and scored on the job's protocol")
    export_parser.add_argument("--output", "-o", type=Path)
    export_parser.add_argument("--queue", action="store_true",
                               help="model formats: only queue the export job")
    export_parser.set_defaults(handler=export)
    worker = commands.add_parser(
        "worker", help="run jobs for one device until stopped", add_help=False
    )
    worker.add_argument("rest", nargs=argparse.REMAINDER)
    worker.set_defaults(handler=lambda a: _delegate("core.jobs.worker", a))
    executor = commands.add_parser(
        "executor", help="keep workers running for every device", add_help=False
    )
    executor.add_argument("rest", nargs=argparse.REMAINDER)
    executor.set_defaults(handler=lambda a: _delegate("core.jobs.executor", a))


def _delegate(module: str, args: argparse.Namespace) -> int:
    import importlib

    return importlib.import_module(module).main(args.rest)
