"""The local executor: keeps worker processes running, one per device by default, and reaps
jobs whose worker died. The embedded default behind `optatlas serve`.

It runs in its own session (detached from the web server), so stopping or restarting the
Streamlit server leaves running jobs alone; one executor per data directory, held by a file
lock, so a second `serve` finds it and starts none.

    python -m core.jobs.executor      (or: optatlas executor)
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from core.engine.paths import optatlas_home

POLL_S = 1.0
# A worker that dies this soon after starting, this many times in a row, is not restarted
# at full speed: the pause grows, so a broken environment does not spin the CPU.
QUICK_DEATH_S = 10.0
MAX_BACKOFF_S = 60.0


def lock_path() -> Path:
    """The file an executor holds locked while it runs."""
    return optatlas_home() / "executor.lock"


def log_path() -> Path:
    """Where a detached executor and its workers write their output."""
    return optatlas_home() / "logs" / "executor.log"


def configured_devices() -> list[str]:
    """`OPTATLAS_DEVICES` (comma separated), else the CPU and every CUDA device."""
    named = os.environ.get("OPTATLAS_DEVICES", "").strip()
    if named:
        return [d.strip() for d in named.split(",") if d.strip()]
    devices = ["cpu"]
    try:
        import torch

        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    except ImportError:  # pragma: no cover - the engine always has torch
        pass
    return devices


def workers_per_device() -> int:
    """`OPTATLAS_WORKERS_PER_DEVICE`, default 1: one running job per device at a time."""
    value = os.environ.get("OPTATLAS_WORKERS_PER_DEVICE", "1")
    try:
        count = int(value)
    except ValueError:
        raise ValueError(
            f"OPTATLAS_WORKERS_PER_DEVICE must be a whole number, not {value!r}"
        ) from None
    if count < 1:
        raise ValueError("OPTATLAS_WORKERS_PER_DEVICE must be at least 1")
    return count


def executor_running() -> bool:
    """True when some process holds this data directory's executor lock."""
    path = lock_path()
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def start_detached(nice: int = 0, threads: int | None = None,
                   ray_options: list[str] | None = None) -> int | None:
    """Start an executor in its own session unless one runs; its pid, or None. Its workers
    run jobs at CPU priority `nice` (0: normal) with `threads` CPU threads (None: torch's
    default). `ray_options` (e.g. ["--ray-address", ADDR]) starts the Ray executor instead."""
    if executor_running():
        return None
    log = log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    options = ["--ray", *ray_options] if ray_options is not None else \
        ["--nice", str(nice), *(["--threads", str(threads)] if threads else [])]
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "core.jobs.executor", *options],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(Path(__file__).resolve().parents[2]),
        )
    return process.pid


def stop_executor(timeout_s: float = 15.0) -> bool:
    """Ask the running executor (its pid is in the lock file) to stop its workers and exit;
    True when it is gone within `timeout_s`."""
    path = lock_path()
    if not executor_running():
        return True
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not executor_running():
            return True
        time.sleep(0.2)
    return False


def hold_lock():
    """Take this data directory's executor lock and write our pid in it; the open lock file
    (keep it open while serving), or None when another executor holds it."""
    path = lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held open for the executor's whole life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        print("[executor] another executor already serves this data directory", flush=True)
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def stop_on_signals(executor) -> None:
    """SIGTERM and SIGINT set `executor.stopping`: it finishes its round and stops."""

    def stop(_signum, _frame) -> None:
        executor.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


@dataclass
class _Slot:
    device: str
    process: subprocess.Popen | None = None
    started: float = 0.0
    quick_deaths: int = 0
    not_before: float = 0.0


class LocalExecutor:
    """Worker processes for each device, restarted when they exit."""

    def __init__(self, devices: list[str], per_device: int = 1, nice: int = 0,
                 threads: int | None = None) -> None:
        self.slots = [_Slot(device) for device in devices for _ in range(per_device)]
        self.nice = nice
        self.threads = threads
        self.stopping = False

    def _start(self, slot: _Slot) -> None:
        slot.process = subprocess.Popen(
            [sys.executable, "-m", "core.jobs.worker", "--device", slot.device,
             "--nice", str(self.nice), *(["--threads", str(self.threads)] if self.threads
                                         else [])],
            stdin=subprocess.DEVNULL,
        )
        slot.started = time.monotonic()
        print(f"[executor] worker {slot.process.pid} started for {slot.device}", flush=True)

    def _check(self, slot: _Slot) -> None:
        now = time.monotonic()
        if slot.process is not None:
            code = slot.process.poll()
            if code is None:
                return
            lived = now - slot.started
            print(
                f"[executor] worker {slot.process.pid} ({slot.device}) exited with {code} "
                f"after {lived:.0f} s",
                flush=True,
            )
            slot.process = None
            slot.quick_deaths = slot.quick_deaths + 1 if lived < QUICK_DEATH_S else 0
            slot.not_before = now + min(MAX_BACKOFF_S, 2.0**slot.quick_deaths - 1)
        if now >= slot.not_before and not self.stopping:
            self._start(slot)

    def run(self) -> int:
        """Hold the lock and keep the workers up until SIGTERM or SIGINT."""
        handle = hold_lock()
        if handle is None:
            return 0
        stop_on_signals(self)
        from core.jobs.worker import reap_now
        from db.engine import make_engine
        from db.migrate import upgrade

        engine = make_engine()
        upgrade(engine)
        print(f"[executor] {os.getpid()} serving {[s.device for s in self.slots]}", flush=True)
        try:
            while not self.stopping:
                for slot in self.slots:
                    self._check(slot)
                try:
                    reap_now(engine)
                except Exception as error:  # noqa: BLE001 - a busy database: next round
                    print(f"[executor] reaping failed: {error}", flush=True)
                time.sleep(POLL_S)
        finally:
            self._stop_workers()
            handle.close()
        return 0

    def _stop_workers(self) -> None:
        running = [s.process for s in self.slots if s.process is not None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + 10
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()


def main(argv: list[str] | None = None) -> int:
    """`optatlas executor`: run the local executor in the foreground."""
    parser = argparse.ArgumentParser(prog="optatlas executor", description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default=None, help="comma-separated, e.g. cpu,cuda:0")
    parser.add_argument("--per-device", type=int, default=None)
    parser.add_argument("--nice", type=int, default=0, choices=range(20), metavar="0-19",
                        help="the workers' CPU priority (higher: pages before jobs)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads each job computes with (default: one per core)")
    parser.add_argument("--stop", action="store_true", help="stop the running executor")
    ray = parser.add_argument_group("on a Ray cluster (pip install 'optatlas[ray]')")
    ray.add_argument("--ray", action="store_true",
                     help="hand jobs to a Ray cluster instead of local worker processes")
    ray.add_argument("--ray-address", default=None, metavar="ADDR",
                     help="the cluster's head, e.g. 10.0.0.1:6380 (default: RAY_ADDRESS, "
                     "else a cluster started on this machine, else a new local one)")
    ray.add_argument("--cpus-per-job", type=float, default=1.0, metavar="N",
                     help="CPUs a CPU job takes on its node (and computes with)")
    ray.add_argument("--artifacts-dir", default=None, metavar="DIR",
                     help="a folder every node mounts at the same path, for saved models "
                     "(default: OPTATLAS_ARTIFACTS_DIR, else each node's data directory)")
    ray.add_argument("--cancel-grace-s", type=float, default=None, metavar="S",
                     help="how long a cancelled job may take to stop by itself before it is "
                     "stopped by force (default 30)")
    args = parser.parse_args(argv)
    if args.stop:
        stopped = stop_executor()
        print("executor stopped" if stopped else "the executor did not stop in time")
        return 0 if stopped else 1
    if args.ray:
        return run_ray_executor(args)
    devices = args.devices.split(",") if args.devices else configured_devices()
    per_device = args.per_device or workers_per_device()
    return LocalExecutor(devices, per_device, args.nice, args.threads).run()


def run_ray_executor(args: argparse.Namespace) -> int:
    """Hold the lock and dispatch jobs to Ray until SIGTERM or SIGINT."""
    try:
        import ray  # noqa: F401
    except ImportError:
        print("The Ray executor needs Ray: pip install 'optatlas[ray]'", file=sys.stderr)
        return 2
    from core.jobs.ray_executor import RayDispatcher
    from core.jobs.ray_placement import head_problem
    from db.engine import make_engine
    from db.migrate import upgrade

    problem = "--cpus-per-job must be more than 0" if args.cpus_per_job <= 0 else \
        head_problem(args.ray_address)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    handle = hold_lock()
    if handle is None:
        return 0
    engine = make_engine()
    upgrade(engine)
    grace = {} if args.cancel_grace_s is None else {"cancel_grace_s": args.cancel_grace_s}
    dispatcher = RayDispatcher(
        engine, address=args.ray_address, cpus_per_job=args.cpus_per_job,
        artifacts_dir=args.artifacts_dir or os.environ.get("OPTATLAS_ARTIFACTS_DIR"), **grace)
    try:
        # After Ray's start-up, which installs signal handlers of its own.
        dispatcher.connect()
        stop_on_signals(dispatcher)
        return dispatcher.serve()
    finally:
        handle.close()


if __name__ == "__main__":
    sys.exit(main())
