"""What a user may name as a model, validated without loading anything (and without torch,
so the web app can check a model reference before it queues a job)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.text import has_control_characters, quoted

DEFAULT_NAME = "SmolLM2-135M-Instruct"

# A Hugging Face id: an optional namespace and a name of letters, digits, '.', '_', '-'.
HUB_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")
REVISION = re.compile(r"^[\w./-]{1,128}$")
# What jobs.model_ref and results.model_ref hold (db/job_models.py), so that a name SQLite
# would store is not one PostgreSQL refuses after the job ran; longer than nearly any Hub id
# with a revision and than most real paths. A longer name is refused before the file system
# sees it. A local folder's resolved path is held to it as well: its key (below) is stored.
MAX_MODEL_REF_CHARS = 300
ROOTS_VARIABLE = "OPTATLAS_MODEL_ROOTS"

SourceKind = Literal["default", "hub", "local", "tiny"]


class ModelNotFoundError(LookupError):
    """No model could be loaded from what the user named; the message says what was tried."""


@dataclass(frozen=True)
class ModelSpec:
    """What to load: the kind of source and its name (and revision, for Hub ids)."""

    kind: SourceKind
    name: str
    revision: str | None = None

    @property
    def key(self) -> str:
        """A stable identifier for caches keyed by model (results.model_key): the name, at
        most MAX_MODEL_REF_CHARS, with its kind before it and a Hub id's revision after."""
        if self.kind == "hub":
            return f"hub:{self.name}@{self.revision or 'main'}"
        return f"{self.kind}:{self.name}"

    @property
    def label(self) -> str:
        """How the model is named to a person."""
        if self.kind == "default":
            return f"{DEFAULT_NAME} (bundled)"
        if self.kind == "hub" and self.revision:
            return f"{self.name}@{self.revision}"
        return self.name


def model_roots() -> tuple[Path, ...]:
    """The folders local models must lie under (OPTATLAS_MODEL_ROOTS, separated by the
    system's path separator); empty when any folder is allowed."""
    raw = os.environ.get(ROOTS_VARIABLE, "")
    roots = []
    for part in raw.split(os.pathsep):
        if part.strip():
            try:
                roots.append(Path(part.strip()).expanduser().resolve())
            except (OSError, RuntimeError, ValueError):
                continue  # a root that cannot be resolved admits nothing
    return tuple(roots)


def _resolved(ref: str) -> Path | None:
    # None for a path the file system cannot even name (too long, unknown ~user, ...).
    try:
        return Path(ref).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return None


def _unresolved(ref: str) -> Path | None:
    # Unlike resolve(), keeps "a/.." a path through "a", which must exist to be a folder.
    try:
        return Path(ref).expanduser()
    except (RuntimeError, ValueError):
        return None


def _is_dir(path: Path | None) -> bool:
    try:
        return path is not None and path.is_dir()
    except (OSError, ValueError):
        return False


def _looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or ref in (".", "..")


def _local(ref: str, roots: tuple[Path, ...]) -> ModelSpec:
    # Messages name the path as typed, never as resolved: a server's layout stays its own.
    path = _resolved(ref)
    if roots and (path is None or not any(path.is_relative_to(root) for root in roots)):
        # One message whether or not the folder exists, so nobody can probe the server.
        raise ModelNotFoundError(
            f"local model folder {quoted(ref)} is not allowed: on this server local models "
            f"must lie under the folders named by {ROOTS_VARIABLE}"
        )
    if path is not None and len(str(path)) > MAX_MODEL_REF_CHARS:
        # Its key holds the whole path; the length is not shown (it tells the server's layout).
        raise ModelNotFoundError(
            f"local model folder {quoted(ref)} lies at a path longer than "
            f"{MAX_MODEL_REF_CHARS} characters, the most OptAtlas stores: move it to a "
            "shorter one (a link does not help: the path is resolved)"
        )
    if not _is_dir(path):
        raise ModelNotFoundError(f"local model folder {quoted(ref)} does not exist")
    try:
        has_config = (path / "config.json").is_file()
    except OSError:
        has_config = False
    if not has_config:
        raise ModelNotFoundError(
            f"{quoted(ref)} is not a model folder: it has no config.json "
            "(save one with model.save_pretrained(folder))"
        )
    return ModelSpec("local", str(path))


def is_path_like(ref: str) -> bool:
    """Whether `ref` is written as a file-system path (absolute, ./, ../ or ~)."""
    return _looks_like_path((ref or "").strip())


def parse_model_ref(ref: str) -> ModelSpec:
    """Turn what a user typed into a validated ModelSpec, or say clearly what is wrong."""
    # Measured before trimming: a job stores the name as it was typed.
    typed = ref or ""
    ref = typed.strip()
    if len(typed) > MAX_MODEL_REF_CHARS:
        raise ModelNotFoundError(
            f"the model name is {len(typed):,} characters long; a Hugging Face id or folder "
            f"path has at most {MAX_MODEL_REF_CHARS} characters"
        )
    if has_control_characters(ref):
        raise ModelNotFoundError(f"the model name {quoted(ref)} contains control characters")
    if ref in ("", "default"):
        return ModelSpec("default", "default")
    if ref == "tiny" or ref.startswith("tiny:"):
        if ref != "tiny" and not ref.removeprefix("tiny:").isdigit():
            raise ModelNotFoundError(f"{quoted(ref)}: a tiny model is 'tiny' or 'tiny:SEED' "
                                     "(an integer)")
        return ModelSpec("tiny", ref)
    roots = model_roots()
    # A folder that exists is a local model, even when its name looks like a Hub id; where
    # local folders are confined to roots, only an explicit path is one (a Hub-like name is
    # then never looked up on the server's disk).
    if _looks_like_path(ref) or (not roots and _is_dir(_unresolved(ref))):
        return _local(ref, roots)
    name, _, revision = ref.partition("@")
    if not HUB_ID.match(name) or ".." in name:
        raise ModelNotFoundError(
            f"{quoted(ref)} is neither 'default', a local folder nor a Hugging Face id "
            "such as 'HuggingFaceTB/SmolLM2-135M-Instruct' (optionally '@revision')"
        )
    if revision and not REVISION.match(revision):
        raise ModelNotFoundError(f"revision {quoted(revision)} of {quoted(name)} is not a valid "
                                 "git revision")
    return ModelSpec("hub", name, revision or None)
