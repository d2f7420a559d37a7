"""Where the Ray dispatcher may place a job: the devices a cluster's nodes offer, what a job
takes on its node, and no placement on a node whose resources the dispatcher's own jobs hold."""

from __future__ import annotations

import pytest

from core.jobs.ray_executor import death_reason
from core.jobs.ray_placement import (
    Demand,
    RayNode,
    Usage,
    cluster_devices,
    engine_device,
    head_problem,
    live_nodes,
    pick_node,
)

HEAD = RayNode("h" * 56, "10.0.0.1", {"memory": 8e9})  # the head: no job resources
CPU_NODE = RayNode("c" * 56, "10.0.0.2", {"CPU": 8.0})
H100_NODE = RayNode("g" * 56, "10.0.0.3", {"CPU": 16.0, "GPU": 2.0,
                                           "accelerator_type:H100": 1.0})
NODES = [HEAD, CPU_NODE, H100_NODE]


def test_live_nodes_keep_only_the_alive_ones_with_their_names():
    listed = [{"NodeID": "a" * 56, "Alive": True, "NodeName": "10.0.0.9",
               "Resources": {"CPU": 2.0}},
              {"NodeID": "b" * 56, "Alive": False, "NodeManagerAddress": "10.0.0.8",
               "Resources": {"CPU": 4.0}}]
    nodes = live_nodes(listed)
    assert [(n.name, n.cpus) for n in nodes] == [("10.0.0.9", 2.0)]
    assert nodes[0].short() == "10.0.0.9 (aaaaaaaa)"


def test_a_cluster_offers_cpu_its_gpu_types_and_any_gpu():
    assert cluster_devices(NODES, cpus_per_job=4) == {"cpu", "cuda", "cuda@H100"}
    assert cluster_devices([HEAD, CPU_NODE], cpus_per_job=4) == {"cpu"}
    # A node with fewer CPUs than a CPU job takes serves no CPU jobs.
    assert cluster_devices([CPU_NODE], cpus_per_job=16) == set()


def test_gpu_jobs_go_to_a_node_of_their_type_and_cpu_jobs_prefer_cpu_nodes():
    node, taken = pick_node("cuda@H100", NODES, Usage(), cpus_per_job=2)
    assert node is H100_NODE and taken == Demand(cpus=1.0, gpus=1.0)
    assert pick_node("cuda@A100-80G", NODES, Usage(), cpus_per_job=2) is None
    assert pick_node("cuda", NODES, Usage(), cpus_per_job=2)[0] is H100_NODE
    node, taken = pick_node("cpu", NODES, Usage(), cpus_per_job=2)
    assert node is CPU_NODE and taken == Demand(cpus=2.0)


def test_no_node_is_chosen_while_the_dispatchers_jobs_hold_its_resources():
    usage = Usage()
    usage.add(H100_NODE.node_id, Demand(1.0, 1.0))
    usage.add(H100_NODE.node_id, Demand(1.0, 1.0))
    assert pick_node("cuda@H100", NODES, usage, cpus_per_job=2) is None  # both GPUs taken
    usage.add(CPU_NODE.node_id, Demand(8.0))
    # The CPU node is full: a CPU job may use the GPU node's spare CPUs.
    assert pick_node("cpu", NODES, usage, cpus_per_job=2)[0] is H100_NODE
    usage.add(H100_NODE.node_id, Demand(14.0))
    assert pick_node("cpu", NODES, usage, cpus_per_job=2) is None


def test_inside_its_actor_every_gpu_job_computes_on_the_gpu_ray_gave_it():
    assert engine_device("cuda@H100") == engine_device("cuda") == "cuda"
    assert engine_device("cpu") == "cpu"


@pytest.mark.parametrize(("ray_says", "reason"), [
    ("The actor died because its node has died. Node Id: abc", "died or left the cluster"),
    ("The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR",
     "Ray worker process on Ray node 10.0.0.2 (cccccccc) died"),
    ("Task was killed due to the node running low on memory. Memory monitor ...",
     "for lack of memory (out of memory)"),
])
def test_a_dead_actor_is_explained_by_what_died(ray_says, reason):
    assert reason in death_reason(RuntimeError(ray_says), CPU_NODE)


def test_an_unreachable_head_is_said_at_once_with_how_to_start_one():
    import socket

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert head_problem(f"127.0.0.1:{port}") is None
    # Nothing listens there any more.
    assert "no Ray cluster answers at 127.0.0.1:" in head_problem(f"127.0.0.1:{port}")
    assert f"ray start --head --port {port}" in head_problem(f"127.0.0.1:{port}")
    assert "is not host:port" in head_problem("my-head")
    assert head_problem(None) is None and head_problem("auto") is None
