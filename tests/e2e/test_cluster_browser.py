"""End to end on a cluster: `optatlas serve --executor ray` over PostgreSQL, with a Ray
cluster of a head (no job resources) and one worker node simulated on this machine. A new
user in headless Chromium launches a tiny-model job from a technique's page; Launch offers
the Ray node's CPU, the job runs on Ray, and the Results page shows its result."""

from __future__ import annotations

import pytest

from bench.live_server import ServerFailed, live_server
from core.jobs import states, store
from db.engine import make_engine
from tests.databases import fresh_postgres_url
from tests.e2e.test_browser import _screenshot, launch_on_the_tiny_model

pytestmark = pytest.mark.e2e
ray = pytest.importorskip("ray", reason="needs Ray: pip install -e '.[ray]'")


@pytest.fixture(scope="module")
def cluster_server(tmp_path_factory):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 0, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    home = tmp_path_factory.mktemp("cluster-home")
    try:
        with fresh_postgres_url("cluster_e2e") as url, live_server(
                home, "--executor", "ray", "--ray-address", cluster.address,
                env={"OPTATLAS_DB_URL": url}) as server:
            yield server, make_engine(url)
    except ServerFailed as error:
        pytest.fail(str(error))
    finally:
        cluster.shutdown()


def test_a_job_launched_in_the_browser_runs_on_ray_and_shows_on_results(cluster_server,
                                                                         browser):
    server, engine = cluster_server
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.set_default_timeout(30_000)

    def offers_the_ray_node(form) -> None:
        # The device list is the cluster's: the worker node's CPU, named as Ray reports it.
        device = form.get_by_role("combobox", name="Device")
        form.wait_for_function("([el]) => el.value.includes('CPU on Ray node')",
                               arg=[device.element_handle()])

    launch_on_the_tiny_model(page, server, "rtn", check_form=offers_the_ray_node,
                             shots="cluster-")
    job = store.list_jobs(engine)[0]
    assert job.status == states.SUCCEEDED and job.attempt == 1
    # Ray ran it: its log says on which node, and the only workers this database knows are
    # the Ray node's.
    assert "(cpu, Ray node " in job.log_tail.splitlines()[0]
    assert [w.id.split(":")[0] for w in store.live_workers(engine)] == ["ray"]
    page.get_by_role("link", name="See it on the Results page").click()
    page.get_by_role("heading", name="Results").wait_for()
    page.locator("[data-testid=stPlotlyChart]").nth(3).wait_for()
    page.wait_for_function("location.search.includes('jobs=')")
    _screenshot(page, "cluster-results")
    page.close()
