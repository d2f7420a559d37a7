"""The taxonomy's facet values and their display names, in their canonical order.

Plain data with no imports, so that the schema, the catalog and the UI share one list.
"""

GOAL_LABELS = {
    "memory": "Memory",
    "latency": "Latency",
    "throughput": "Throughput",
    "energy": "Energy",
}
HARDWARE_LABELS = {
    "cpu": "CPU",
    "consumer_gpu": "Consumer GPU",
    "datacenter_gpu": "Datacenter GPU",
}
NODE_KINDS = ("family", "category", "method")


def in_canonical_order(values, labels: dict[str, str]) -> tuple[str, ...]:
    """`values` sorted as `labels` lists them (unknown values last, alphabetically)."""
    rank = {value: i for i, value in enumerate(labels)}
    return tuple(sorted(values, key=lambda v: (rank.get(v, len(rank)), v)))
