"""Knowledge distillation, one file per recipe (core/distillation/<slug>.py). Importing this
package registers its techniques."""

from core.distillation import logit_distillation  # noqa: F401  (registers on import)
