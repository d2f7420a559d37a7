"""This machine as a chooser device, with figures the engine measured here.

Torch-free: the web app imports it. The engine measures in a subprocess
(`python -m core.engine.machine_profile`) and caches the profile in
cache_dir()/machine.json; once that file exists, this module reads it directly, so a page
answers at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from core.chooser.hardware import CAPABILITIES, DTYPES, Device, Source
from core.engine.paths import cache_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE = "core.engine.machine_profile"
KEY = "this-machine"
NOTE = (
    "measured figures: achieved, not peak. Bandwidth is a copy of a 256 MiB buffer (bytes "
    "read + written per second); throughput is the best of a few dense square matmuls in "
    "PyTorch. A datasheet's peaks are higher, so this machine looks slower beside a "
    "catalogue device than the same chip would on paper."
)


class MachineProfileError(ValueError):
    """This machine could not be measured, or its cached profile could not be read."""


def cache_file() -> Path:
    """Where the engine keeps the profiles it measured, one per device."""
    return cache_dir() / "machine.json"


def this_machine(*, refresh: bool = False, timeout_s: float = 120) -> Device:
    """This machine as a measured Device: its GPU when it has one, else its CPU. Reads the
    cached profile when there is one (unless `refresh`); otherwise the engine measures it
    in a subprocess, at most `timeout_s` seconds."""
    if not refresh:
        cached = cached_profile()
        if cached is not None:
            return device_from_profile(cached)
    return device_from_profile(measure_in_subprocess(refresh=refresh, timeout_s=timeout_s))


def cached_profile() -> dict | None:
    """The cached profile of this machine's GPU if one was measured, else its CPU's; None
    when nothing was measured yet."""
    path = cache_file()
    if not path.exists():
        return None
    try:
        profiles = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise MachineProfileError(
            f"the saved measurement of this machine ({path}) cannot be read ({error}); "
            "measure this machine again to rewrite it, or delete the file"
        ) from None
    if not isinstance(profiles, dict):
        raise MachineProfileError(
            f"the saved measurement of this machine ({path}) is not a set of profiles; "
            "measure this machine again to rewrite it, or delete the file"
        )
    entries = [entry for entry in profiles.values() if isinstance(entry, dict)]
    for kind in ("gpu", "cpu"):
        # The newest measurement of that kind (ISO dates sort as text).
        of_kind = [entry for entry in entries if entry.get("kind") == kind]
        if of_kind:
            return max(of_kind, key=lambda entry: str(entry.get("measured_at", "")))
    return None


def measure_in_subprocess(*, refresh: bool = False, timeout_s: float = 120) -> dict:
    """Run the engine's measurement in its own interpreter (it loads torch; this one
    must not) and return the profile it prints."""
    command = [sys.executable, "-m", MODULE, *(["--refresh"] if refresh else [])]
    try:
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                                timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise MachineProfileError(
            f"measuring this machine took longer than {timeout_s:g} s and was stopped; "
            "try again when the machine is less busy (a running job slows it down)"
        ) from None
    except OSError as error:
        raise MachineProfileError(f"the measurement could not start: {error}") from None
    if result.returncode != 0:
        raise MachineProfileError(
            f"measuring this machine failed (exit status {result.returncode}): "
            f"{_last_line(result.stderr) or 'no message'}"
        )
    try:
        profile = json.loads(result.stdout)
    except ValueError:
        raise MachineProfileError(
            "the measurement of this machine printed something other than a JSON profile"
            f" (last line: {_last_line(result.stdout) or 'nothing'!r})"
        ) from None
    if not isinstance(profile, dict):
        raise MachineProfileError("the measurement of this machine did not print a profile")
    return profile


def device_from_profile(profile: dict) -> Device:
    """A measured profile (the engine's JSON) as the chooser's Device."""
    try:
        description = str(profile["description"])
        kind = str(profile["kind"])
        memory = int(profile.get("memory_limit_bytes") or profile["memory_bytes"])
        bandwidth = float(profile["bandwidth_gb_s"])
        tflops = {dtype: float(value) for dtype, value in profile["tflops"].items()
                  if dtype in DTYPES}
        capabilities = frozenset(name for name in profile.get("capabilities", ())
                                 if name in CAPABILITIES)
        date = str(profile.get("measured_at", ""))[:10] or "an unknown date"
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise MachineProfileError(
            f"the measured profile of this machine is incomplete or malformed ({error!r}); "
            "measure this machine again"
        ) from None
    if kind not in ("gpu", "cpu") or memory <= 0 or bandwidth <= 0 or not tflops:
        raise MachineProfileError(
            f"the measured profile of this machine makes no sense (kind {kind!r}, "
            f"{memory} bytes, {bandwidth} GB/s, {len(tflops)} throughputs); measure it again"
        )
    return Device(
        key=KEY,
        name=f"This machine ({description})",
        kind=kind,
        architecture="measured",
        memory_gib=memory / 2**30,
        bandwidth_gb_s=bandwidth,
        tflops=tflops,
        capabilities=capabilities,
        sources=(Source(f"Measured by OptAtlas's engine on {date}: "
                        "copy bandwidth and matmul throughput"),),
        note=NOTE,
        measured=True,
        extra={name: profile[name] for name in (
            "device", "memory_bytes", "memory_limit_bytes", "matmul_size",
            "compute_capability", "threads", "torch_version", "measured_at",
        ) if name in profile},
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
