"""Low-rank factorization, one file per recipe (core/lowrank/<slug>.py). Importing this package
registers its techniques."""

from core.lowrank import svd_lowrank  # noqa: F401  (registers on import)
