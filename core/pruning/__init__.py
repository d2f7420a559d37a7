"""Pruning techniques. Importing this package registers every one of them."""

from core.pruning import structured, unstructured  # noqa: F401  (registers on import)
