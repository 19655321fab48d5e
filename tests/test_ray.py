"""`[run] executor = "ray"`: a sweep on a two-node local Ray cluster fills the run store.

The cluster is Ray's own test cluster (`ray.cluster_utils.Cluster`): two nodes with one CPU
each, so the two trials that train at once land on different nodes. Both nodes run on this
machine; Ray names them by the host's address even when asked for 127.0.0.1 (on Linux it
rewrites a loopback address to the host's own), so the test takes the address Ray gives.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")  # the dev extra installs it; CI runs this test

from ray.cluster_utils import Cluster  # noqa: E402

from tuilab.runtime.session import RunRequest, execute, prepare_run  # noqa: E402
from tuilab.runtime.stored import load_run  # noqa: E402

SWEEP = """
[scenario]
name = "ray sweep"
seed = 4
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 16, activation = "relu" },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = 3
batch_size = 64
[run]
executor = "ray"
parallel = 2
[[callbacks]]
type = "CSVLogger"
filename = "log.csv"
[sweep]
method = "grid"
"compile.optimizer.learning_rate" = [0.001, 0.01]
"fit.batch_size" = [32, 64]
"""


@pytest.fixture
def two_nodes(monkeypatch: pytest.MonkeyPatch):
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    yield cluster
    if ray.is_initialized():
        ray.shutdown()
    cluster.shutdown()


@pytest.mark.timeout(300)
def test_a_sweep_on_a_two_node_ray_cluster_fills_the_run_store(
    two_nodes, tmp_path: Path, write_scenario
) -> None:
    assert len(two_nodes.list_all_nodes()) == 2 and not ray.is_initialized()  # tuilab connects
    runner, store = prepare_run(RunRequest(write_scenario(SWEEP), runs_dir=tmp_path / "runs"))
    events = []
    outcome = execute(runner, store, events.append)
    assert outcome.status == "finished"
    run = load_run(store.folder)
    assert run.book.status == "finished" and not run.problems
    trials = list(run.book.trials)
    assert len(trials) == 4
    nodes = set()
    for trial in trials:
        result = run.book.trials[trial]
        assert result.status == "finished" and result.epochs == 3
        assert 0.0 < result.test["accuracy"] <= 1.0 and result.test["loss"] > 0
        folder = store.folder / "variants" / run.folder.trial(trial).name
        assert len((folder / "history.csv").read_text().splitlines()) == 4
        assert (folder / "model.keras").stat().st_size > 1000  # brought back from its node
        assert len((folder / "log.csv").read_text().splitlines()) == 4  # a callback's file too
        assert not (folder / "resume").exists()  # finished: no resume state left
        where = json.loads((folder / "worker.json").read_text())
        nodes.add(where["node"])
    assert len(nodes) == 2  # both nodes trained
    assert json.loads((store.folder / "run.json").read_text())["status"] == "finished"
