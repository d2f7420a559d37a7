"""Low-rank factorization. Importing this package registers its techniques."""

from core.lowrank import svd  # noqa: F401  (registers on import)
