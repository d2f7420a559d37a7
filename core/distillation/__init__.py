"""Knowledge distillation. Importing this package registers its techniques."""

from core.distillation import logits  # noqa: F401  (registers on import)
