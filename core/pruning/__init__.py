"""Pruning techniques. Importing this package registers every one of them."""

from core.pruning import structured, unstructured, width  # noqa: F401  (registers on import)
