"""End to end on a cluster: `optatlas serve --executor ray` over PostgreSQL, with a Ray
cluster of a head (no job resources) and one worker node simulated on this machine. A new
user in headless Chromium launches a tiny-model job from a technique's page; Launch offers
the Ray node's CPU, the job runs on Ray, and the Results page shows its result."""

from __future__ import annotations

import pytest

from bench.live_server import CHROMIUM_ARGS, ServerFailed, live_server
from core.jobs import states, store
from db.engine import make_engine
from tests.databases import fresh_postgres_url
from tests.e2e.test_browser import _chromium, _open_expander, _screenshot, _settled

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


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_a_job_launched_in_the_browser_runs_on_ray_and_shows_on_results(cluster_server,
                                                                         browser):
    server, engine = cluster_server
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(f"{server}/?technique=rtn")
    page.get_by_role("link", name="Run this technique").click()
    page.get_by_role("heading", name="Launch a job").wait_for()
    page.get_by_text("A tiny random model").click()
    # The device list is the cluster's: the worker node's CPU, named as Ray reports it.
    device = page.get_by_role("combobox", name="Device")
    page.wait_for_function("([el]) => el.value.includes('CPU on Ray node')",
                           arg=[device.element_handle()])
    _open_expander(page, "What to measure", inside="decode at batch 1 only")
    _settled(page, "decode at batch 1 only")
    page.get_by_text("decode at batch 1 only").first.click()
    page.get_by_text("Estimate:").wait_for()
    _screenshot(page, "cluster-launch")
    page.get_by_role("button", name="Launch").click()
    page.get_by_text("queued.").wait_for()
    page.get_by_role("link", name="Follow job").click()
    page.get_by_role("heading", name="Jobs").wait_for()
    page.get_by_role("link", name="See it on the Results page").wait_for(timeout=240_000)
    _screenshot(page, "cluster-jobs")
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
