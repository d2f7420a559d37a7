"""The `optatlas` command: migrate and seed the database, serve the app."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _taxonomy_or_none(invalid: str):
    """The taxonomy from its data files, or None after printing `invalid` and the errors."""
    from taxonomy.loader import TaxonomyError, load_taxonomy

    try:
        return load_taxonomy()
    except TaxonomyError as error:
        print(f"{invalid}\n{error}", file=sys.stderr)
        return None


def _prepare(args: argparse.Namespace) -> int:
    from db.engine import database_url, make_engine
    from db.migrate import upgrade
    from taxonomy.seed import seed

    taxonomy = _taxonomy_or_none("The taxonomy's data files are invalid:")
    if taxonomy is None:
        return 2
    engine = make_engine()
    upgrade(engine)
    report = seed(engine, taxonomy)
    leaves = sum(1 for n in taxonomy.nodes if not taxonomy.children(n.slug))
    results = sum(len(n.reported_results) for n in taxonomy.nodes)
    print(f"Database: {engine.url.render_as_string(hide_password=True) or database_url()}")
    print(
        f"Taxonomy: {len(taxonomy.nodes)} nodes ({leaves} methods), "
        f"{len(taxonomy.references)} references, {results} reported results"
    )
    print(f"Seed: {report}")
    status = _seed_gallery(engine)
    engine.dispose()
    return status


def _seed_gallery(engine) -> int:
    from core.gallery.record import DEFAULT_PATH, GalleryError, read_gallery
    from core.jobs.gallery_results import seed_gallery

    try:
        gallery = read_gallery(DEFAULT_PATH)
    except GalleryError as error:
        print(f"The gallery file is invalid: {error}", file=sys.stderr)
        return 2
    print(f"Gallery: {len(gallery.runs)} measured runs ({seed_gallery(engine, gallery)})")
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    from db.engine import make_engine
    from db.migrate import current_revision, upgrade

    engine = make_engine()
    upgrade(engine)
    print(f"Database schema at revision {current_revision(engine)}")
    return 0


def _check(_args: argparse.Namespace) -> int:
    taxonomy = _taxonomy_or_none("INVALID")
    if taxonomy is None:
        return 1
    leaves = sum(1 for node in taxonomy.nodes if not taxonomy.children(node.slug))
    print(f"OK: {len(taxonomy.nodes)} nodes ({leaves} leaves), "
          f"{len(taxonomy.references)} references")
    from core.gallery.record import DEFAULT_PATH, GalleryError, read_gallery

    try:
        gallery = read_gallery(DEFAULT_PATH)
    except GalleryError as error:
        print(f"INVALID: {error}")
        return 1
    print(f"OK: gallery of {len(gallery.runs)} measured runs")
    slugs = {node.slug for node in taxonomy.nodes}
    return _check_glossary(slugs) or _check_labs(slugs) or _check_chooser(slugs)


def _check_glossary(node_slugs: set[str]) -> int:
    from taxonomy.glossary import GlossaryError, load_glossary, unknown_nodes

    try:
        glossary = load_glossary()
    except GlossaryError as error:
        print(f"INVALID: {error}")
        return 1
    problems = unknown_nodes(glossary, node_slugs)
    for problem in problems:
        print(f"INVALID: glossary.yaml: term -> node that does not exist: {problem}")
    if problems:
        return 1
    print(f"OK: glossary of {len(glossary.terms)} terms")
    return 0


def _check_chooser(node_slugs: set[str]) -> int:
    from core.chooser.hardware import HardwareError, load_hardware
    from core.chooser.rules import RulesError, load_rules, rules_problems

    try:
        devices = load_hardware()
        rules = load_rules()
    except (HardwareError, RulesError) as error:
        print(f"INVALID: {error}")
        return 1
    problems = rules_problems(rules, node_slugs)
    for problem in problems:
        print(f"INVALID: rules.yaml: {problem}")
    if problems:
        return 1
    print(f"OK: chooser rules {rules.version} ({len(rules.candidates)} candidates), "
          f"{len(devices)} devices")
    return 0


def _check_labs(node_slugs: set[str]) -> int:
    from core.gallery.plan import planned_runs
    from core.labs.content import LabError, load_labs, unknown_references

    try:
        labs = load_labs()
    except LabError as error:
        print(f"INVALID: {error}")
        return 1
    runs = {run.name for run in planned_runs()}
    problems = [f"{lab.path}: {problem}" for lab in labs
                for problem in unknown_references(lab, node_slugs, runs)]
    for problem in problems:
        print(f"INVALID: {problem}")
    if problems:
        return 1
    print(f"OK: {len(labs)} labs")
    return 0


def _room_or_none(path: str):
    """The workshop room of the file at `path`, or None after printing why it cannot be used."""
    from core.workshop.config import WorkshopConfigError, load_workshop

    try:
        return load_workshop(path)
    except WorkshopConfigError as error:
        print(f"Not usable: {error}", file=sys.stderr)
        return None


WORKSHOP_ENV = "OPTATLAS_WORKSHOP"


def _executor_problem(args: argparse.Namespace) -> str | None:
    """Why the executor options cannot work, before anything starts; None when they can."""
    ray_only = [flag for flag, value in (("--ray-address", args.ray_address),
                                         ("--cpus-per-job", args.cpus_per_job),
                                         ("--artifacts-dir", args.artifacts_dir)) if value]
    if args.executor != "ray":
        return f"{', '.join(ray_only)} only apply with --executor ray" if ray_only else None
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        return "--executor ray needs Ray on this machine: pip install 'optatlas[ray]'"
    if args.cpus_per_job is not None and args.cpus_per_job <= 0:
        return "--cpus-per-job must be more than 0"
    from core.jobs.ray_placement import head_problem

    return head_problem(args.ray_address)


def _serve(args: argparse.Namespace) -> int:
    problem = _executor_problem(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if args.workshop:
        # Checked before anything starts: a room with a broken file never opens half-made.
        room = _room_or_none(args.workshop)
        if room is None:
            return 2
        os.environ[WORKSHOP_ENV] = str(Path(args.workshop).resolve())
        print(f"Workshop room: {Path(args.workshop).name} (models {', '.join(room.models)}; "
              f"{room.caps.jobs_per_attendee} job(s) per attendee)")
    else:
        os.environ.pop(WORKSHOP_ENV, None)
    if not args.no_seed and _prepare(args) != 0:
        return 2
    if not args.no_executor:
        # Jobs run in worker processes under a detached executor: stopping this server
        # leaves them running, and the next start finds the executor already there.
        from core.jobs.executor import start_detached

        if args.executor == "ray":
            pid = start_detached(ray_options=_ray_options(args))
        elif args.workshop:
            pid = start_detached(nice=room.job_nice, threads=room.threads_per_job())
        else:
            pid = start_detached()
        if pid is not None:
            print(f"{'Ray executor' if args.executor == 'ray' else 'Executor'} started "
                  f"(pid {pid}); its log: OPTATLAS_HOME/logs/executor.log")
        else:
            # One executor per data directory: a second serve shares the running one, which
            # may be of the other kind; say so rather than seem to have switched.
            print("An executor already runs for this data directory and takes the jobs; "
                  "`optatlas executor --stop` stops it (then serve again to start another)")
    # Streamlit reads .streamlit/config.toml from the working directory.
    os.chdir(PROJECT_ROOT)
    sys.path.insert(0, str(PROJECT_ROOT))
    # Import the pages' libraries (pandas, plotly, SQLAlchemy) before the server starts, so
    # that the first visitor does not wait for them.
    from streamlit.web import cli as streamlit_cli

    from app.views import compare, explore, jobs, labs, launch, results, teacher  # noqa: F401

    sys.argv = [
        "streamlit",
        "run",
        str(PROJECT_ROOT / "app" / "main.py"),
        "--server.port",
        str(args.port),
        "--server.address",
        args.address,
    ]
    try:
        return streamlit_cli.main()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except KeyboardInterrupt:
        return 0


def _ray_options(args: argparse.Namespace) -> list[str]:
    """The Ray executor's options as `optatlas executor --ray` takes them."""
    options = []
    if args.ray_address:
        options += ["--ray-address", args.ray_address]
    if args.cpus_per_job is not None:
        options += ["--cpus-per-job", str(args.cpus_per_job)]
    if args.artifacts_dir:
        options += ["--artifacts-dir", str(Path(args.artifacts_dir).expanduser().resolve())]
    return options


def _workshop(args: argparse.Namespace) -> int:
    """`optatlas workshop hash` and `optatlas workshop check FILE`."""
    if args.action == "hash":
        import getpass

        from core.workshop.passcodes import hash_passcode

        passcode = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass(
            "Teacher passcode: ")
        if not passcode:
            print("a passcode cannot be empty", file=sys.stderr)
            return 2
        print(hash_passcode(passcode))
        return 0
    if not args.file:
        print("workshop check needs the room's file: optatlas workshop check FILE",
              file=sys.stderr)
        return 2
    room = _room_or_none(args.file)
    if room is None:
        return 2
    recipes = "all that can run here" if room.recipes is None else ", ".join(room.recipes)
    print(f"OK: models {', '.join(room.models)}; recipes {recipes}; "
          f"room passcode {'set' if room.room_passcode else 'none'}")
    return 0


def _engine_cli():
    # The engine imports torch; load it only for the commands that measure.
    import importlib

    return importlib.import_module("core.engine.cli")


def build_parser() -> argparse.ArgumentParser:
    """The command line's grammar."""
    parser = argparse.ArgumentParser(
        prog="optatlas", description="An atlas of LLM inference optimizations you can run."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate, seed and start the web app")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--address", default="localhost")
    serve.add_argument("--no-seed", action="store_true", help="start without reseeding")
    serve.add_argument("--no-executor", action="store_true",
                       help="do not start the local executor (jobs then wait for a worker)")
    serve.add_argument("--executor", choices=["local", "ray"], default="local",
                       help="where jobs run: worker processes on this machine (local), or a "
                       "Ray cluster (ray; pip install 'optatlas[ray]')")
    serve.add_argument("--ray-address", metavar="ADDR",
                       help="with --executor ray: the cluster's head, e.g. 10.0.0.1:6380")
    serve.add_argument("--cpus-per-job", type=float, metavar="N",
                       help="with --executor ray: CPUs a CPU job takes on its node (default 1)")
    serve.add_argument("--artifacts-dir", metavar="DIR",
                       help="with --executor ray: a folder every node mounts at the same "
                       "path, where jobs save models")
    serve.add_argument("--workshop", metavar="FILE",
                       help="serve a workshop room described by this YAML file "
                       "(see `optatlas workshop check`)")
    serve.set_defaults(handler=_serve)
    workshop = commands.add_parser(
        "workshop", help="workshop rooms: hash the teacher's passcode, check a room's file")
    workshop.add_argument("action", choices=["hash", "check"])
    workshop.add_argument("file", nargs="?", help="the room's YAML file (check)")
    workshop.add_argument("--stdin", action="store_true",
                          help="hash: read the passcode from standard input")
    workshop.set_defaults(handler=_workshop)
    seed = commands.add_parser("seed", help="migrate the database and seed the taxonomy")
    seed.set_defaults(handler=_prepare)
    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(handler=_migrate)
    check = commands.add_parser(
        "check", help="validate the data files: taxonomy, gallery, labs, chooser")
    check.set_defaults(handler=_check)
    measure = commands.add_parser("measure", help="measure a model's quality, speed, memory, size")
    _engine_cli().add_arguments(measure)
    measure.set_defaults(handler=lambda args: _engine_cli().run(args))
    from app.choose_cli import add_command as add_choose_command
    from core.gallery.cli import add_commands as add_gallery_commands
    from core.jobs.cli import add_commands

    add_commands(commands)
    add_gallery_commands(commands)
    add_choose_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `optatlas` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("worker", "executor"):
        # They parse their own options (argparse's remainder cannot start with an option).
        import importlib

        return importlib.import_module(f"core.jobs.{argv[0]}").main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:
        # The reader went away (`optatlas jobs | head`): stop quietly, as other tools do.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - flushing at exit must not fail
        return 141


if __name__ == "__main__":
    sys.exit(main())
