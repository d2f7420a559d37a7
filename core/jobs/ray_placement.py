"""Where on a Ray cluster a job may run: the devices its nodes offer, what a job of each
device needs, and the node with those resources free. Pure functions over Ray's view of its
nodes (`ray.nodes()`), so the dispatcher's choices are testable without a cluster.

The dispatcher hands Ray a job only when a node has the job's resources free (counting the
jobs it already placed there), and pins it to that node: Ray never holds a hidden queue, and
the database's fair order decides which job goes next. Devices a cluster offers:
`cpu` on every node with CPUs, `cuda` on every node with a GPU, and `cuda@TYPE` for each GPU
type Ray reports (its `accelerator_type:TYPE` resource, e.g. `cuda@H100`)."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ACCELERATOR_PREFIX = "accelerator_type:"


def head_problem(address: str | None, timeout_s: float = 5.0) -> str | None:
    """Why the Ray head at `address` (host:port) cannot be reached, or None when something
    listens there. Ray itself retries an unreachable head for minutes; this says so at once.
    None, too, for no address or `auto` (Ray then finds or starts a cluster itself)."""
    if not address or address == "auto" or "://" in address:
        return None
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return f"the Ray address {address[:80]!r} is not host:port (e.g. 10.0.0.1:6380)"
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        return (f"no Ray cluster answers at {address} ({error.strerror or error}); start "
                f"its head there with `ray start --head --port {port}`, or check the address")
    return None


@dataclass(frozen=True)
class RayNode:
    """One live node as Ray reports it: its id, a readable name and its total resources."""

    node_id: str
    name: str
    resources: Mapping[str, float]

    @property
    def cpus(self) -> float:
        return float(self.resources.get("CPU", 0.0))

    @property
    def gpus(self) -> float:
        return float(self.resources.get("GPU", 0.0))

    @property
    def gpu_type(self) -> str | None:
        """The GPU type Ray detected on this node (H100, A100-80G, L4, ...), if any."""
        for key in self.resources:
            if key.startswith(ACCELERATOR_PREFIX):
                return key[len(ACCELERATOR_PREFIX):]
        return None

    def short(self) -> str:
        """The node as a person reads it: its address and the start of its id."""
        return f"{self.name} ({self.node_id[:8]})"


def live_nodes(reported: Iterable[Mapping]) -> list[RayNode]:
    """The live nodes of a `ray.nodes()` listing."""
    return [RayNode(str(n["NodeID"]), str(n.get("NodeName") or n.get("NodeManagerAddress")),
                    dict(n.get("Resources") or {}))
            for n in reported if n.get("Alive")]


def is_gpu_device(device: str) -> bool:
    """True for `cuda`, `cuda:N` and `cuda@TYPE`."""
    return device.startswith("cuda")


def engine_device(device: str) -> str:
    """The device the engine uses inside a Ray actor: Ray hands the actor its GPU as the only
    visible one, so every CUDA job computes on `cuda`."""
    return "cuda" if is_gpu_device(device) else "cpu"


def node_devices(node: RayNode, cpus_per_job: float) -> list[str]:
    """The job devices `node` can serve."""
    devices = []
    if node.gpus >= 1:
        devices.append(f"cuda@{node.gpu_type}" if node.gpu_type else "cuda")
    if node.cpus >= cpus_per_job:
        devices.append("cpu")
    return devices


def cluster_devices(nodes: Iterable[RayNode], cpus_per_job: float) -> set[str]:
    """Every job device some node of the cluster serves; plain `cuda` wherever any GPU is."""
    devices = {d for node in nodes for d in node_devices(node, cpus_per_job)}
    if any(d.startswith("cuda@") for d in devices):
        devices.add("cuda")
    return devices


@dataclass(frozen=True)
class Demand:
    """What one job holds on its node while it runs."""

    cpus: float
    gpus: float = 0.0


def demand(device: str, node: RayNode, cpus_per_job: float) -> Demand:
    """The resources a job of `device` takes on `node`: a CPU job its CPUs; a GPU job one GPU
    and one CPU to feed it (none where the node offers no CPUs to Ray)."""
    if is_gpu_device(device):
        return Demand(cpus=min(1.0, node.cpus), gpus=1.0)
    return Demand(cpus=cpus_per_job)


def node_fits(device: str, node: RayNode) -> bool:
    """True when `node` has the kind of hardware `device` asks for."""
    if not is_gpu_device(device):
        return True
    if node.gpus < 1:
        return False
    if device.startswith("cuda@"):
        return node.gpu_type == device.split("@", 1)[1]
    return True


@dataclass
class Usage:
    """What the dispatcher's own running jobs hold on each node."""

    held: dict[str, Demand] = field(default_factory=dict)

    def on(self, node_id: str) -> Demand:
        return self.held.get(node_id, Demand(0.0, 0.0))

    def add(self, node_id: str, taken: Demand) -> None:
        now = self.on(node_id)
        self.held[node_id] = Demand(now.cpus + taken.cpus, now.gpus + taken.gpus)


def pick_node(device: str, nodes: Iterable[RayNode], usage: Usage,
              cpus_per_job: float) -> tuple[RayNode, Demand] | None:
    """The node to run a job of `device` on now, and what the job takes there; None while no
    node has the resources free. CPU jobs prefer nodes without GPUs (a GPU node's CPUs feed
    its GPUs), then the node with the most free CPUs."""
    choices = []
    for node in nodes:
        if not node_fits(device, node):
            continue
        wanted = demand(device, node, cpus_per_job)
        used = usage.on(node.node_id)
        free_cpus, free_gpus = node.cpus - used.cpus, node.gpus - used.gpus
        if wanted.cpus > free_cpus + 1e-9 or wanted.gpus > free_gpus + 1e-9:
            continue
        choices.append(((node.gpus > 0 and not is_gpu_device(device), -free_cpus, node.node_id),
                        node, wanted))
    if not choices:
        return None
    _, node, wanted = min(choices, key=lambda choice: choice[0])
    return node, wanted
