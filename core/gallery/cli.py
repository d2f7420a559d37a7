"""`optatlas gallery build [--only NAMES] [--again] [--out FILE]` and `optatlas gallery list`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _build(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.gallery.build import build
    from core.gallery.plan import planned_runs
    from core.gallery.record import GalleryError

    names = [name.strip() for name in args.only.split(",") if name.strip()] if args.only \
        else None
    total = len(names) if names is not None else len(planned_runs())
    bar = tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True)

    def stage(name: str, what: str) -> None:
        bar.set_postfix_str(f"{name}: {what}"[:60], refresh=True)

    def done(step) -> None:
        bar.update(1)
        bar.write(f"{step.name}: {step.outcome}" + (f" ({step.detail})" if step.detail else ""))

    try:
        steps = build(names, Path(args.out), on_step=done, progress=stage, again=args.again)
    except (KeyError, GalleryError) as error:
        bar.close()
        print(f"gallery build: {str(error).strip(chr(39))}", file=sys.stderr)
        return 2
    bar.close()
    counts = {outcome: sum(1 for s in steps if s.outcome == outcome)
              for outcome in ("measured", "kept", "not runnable", "failed")}
    print(f"Gallery {args.out}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    return 1 if counts["failed"] else 0


def _list(args: argparse.Namespace) -> int:
    from core.gallery.plan import planned_runs
    from core.gallery.record import GalleryError, read_gallery

    try:
        gallery = read_gallery(Path(args.out))
    except GalleryError as error:
        print(error, file=sys.stderr)
        return 2
    for run in planned_runs():
        stored = gallery.run(run.name)
        when = (f"measured {stored.measured_at} in {stored.wall_s:.0f} s on "
                f"{stored.device_name}") if stored else "not measured yet"
        print(f"{run.name:40} {when}")
    return 0


def add_commands(commands) -> None:
    """Add `gallery` to the `optatlas` command line."""
    from core.gallery.record import DEFAULT_PATH

    gallery = commands.add_parser("gallery", help="the shipped gallery of measured runs")
    actions = gallery.add_subparsers(dest="action", required=True)
    build = actions.add_parser("build", help="measure the gallery's runs (resumable)")
    build.add_argument("--only", help="comma-separated run names (see `optatlas gallery list`)")
    build.add_argument("--again", action="store_true",
                       help="measure the chosen runs again even where the file holds them "
                       "from the same code version (another machine, a quieter one)")
    build.add_argument("--out", default=str(DEFAULT_PATH), help="the gallery file to update")
    build.set_defaults(handler=_build)
    listing = actions.add_parser("list", help="the planned runs and which are measured")
    listing.add_argument("--out", default=str(DEFAULT_PATH), help="the gallery file to read")
    listing.set_defaults(handler=_list)
