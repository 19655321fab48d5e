"""`[run] executor = "ray"`: a sweep on a two-node local Ray cluster fills the run store.

The cluster is Ray's own test cluster (`ray.cluster_utils.Cluster`): two nodes with one CPU
each, so the two trials that train at once land on different nodes. Both nodes run on this
machine; Ray names them by the host's address even when asked for 127.0.0.1 (on Linux it
rewrites a loopback address to the host's own), so the test takes the address Ray gives.
"""

from __future__ import annotations

import json
import threading
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


def _cluster(monkeypatch: pytest.MonkeyPatch, head_cpus: int):
    """A head with `head_cpus` CPUs and one worker node with one; RAY_ADDRESS names it."""
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": head_cpus, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    yield cluster
    if ray.is_initialized():
        ray.shutdown()
    cluster.shutdown()


@pytest.fixture
def two_nodes(monkeypatch: pytest.MonkeyPatch):
    yield from _cluster(monkeypatch, head_cpus=1)


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


LONG = """
[scenario]
name = "ray resumable"
seed = 6
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 16, activation = "relu" },
          { type = "Dropout", rate = 0.2 },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = EPOCHS
batch_size = 32
[run]
executor = "ray"
parallel = 1
"""


def _train(scenario: Path, runs: Path, on_epoch=None, resume: Path | None = None):
    """Train (or resume) in this process; `on_epoch(folder, epoch)` after each stored epoch."""
    from tuilab.runtime.events import EpochEnded

    request = RunRequest(scenario, runs_dir=runs, resume=resume)
    runner, store = prepare_run(request)

    def sink(event) -> None:
        if on_epoch is not None and isinstance(event, EpochEnded):
            on_epoch(store.folder, event.epoch)

    return execute(runner, store, sink), store.folder


def _history(folder: Path) -> list[list[str]]:
    lines = (folder / "variants" / "default" / "history.csv").read_text().splitlines()
    return [line.split(",")[:-1] for line in lines[1:]]  # the last column: seconds


@pytest.mark.timeout(400)
def test_a_stopped_ray_run_resumes_on_its_task_and_ends_as_the_uninterrupted_run(
    two_nodes, tmp_path: Path, write_scenario
) -> None:
    """The resume state travels to the Ray task (it found no arrays in its scratch folder)."""
    from tuilab.runtime.control_channel import send_request

    scenario = write_scenario(LONG.replace("EPOCHS", "40"))  # the stop takes a second to land
    outcome, reference = _train(scenario, tmp_path / "reference")
    assert outcome.status == "finished"

    def stop_after_third(folder: Path, epoch: int) -> None:
        if epoch == 3:
            send_request(folder, "stop")

    outcome, folder = _train(scenario, tmp_path / "runs", stop_after_third)
    assert outcome.status == "stopped"
    stopped_at = int(
        json.loads((folder / "variants/default/resume/state.json").read_text())["epoch"]
    )
    assert 3 <= stopped_at < 40
    outcome, _ = _train(scenario, tmp_path / "runs", resume=folder)
    assert outcome.status == "finished", outcome.error
    assert _history(folder) == _history(reference) and len(_history(folder)) == 40
    assert not (folder / "variants" / "default" / "resume").exists()


@pytest.fixture
def one_worker_node(monkeypatch: pytest.MonkeyPatch):
    """A head with no CPU for tasks (the coordinator's mailbox lives there) and one worker."""
    yield from _cluster(monkeypatch, head_cpus=0)


@pytest.mark.timeout(400)
def test_a_trial_on_a_node_that_dies_resumes_from_its_last_shipped_epoch(
    one_worker_node, tmp_path: Path, write_scenario
) -> None:
    scenario = write_scenario(LONG.replace("EPOCHS", "150"))
    (worker,) = one_worker_node.worker_nodes
    killed = threading.Event()

    def kill_the_node(folder: Path, epoch: int) -> None:
        state = folder / "variants" / "default" / "resume" / "state.json"
        if epoch >= 3 and state.exists() and not killed.is_set():
            killed.set()
            threading.Thread(target=one_worker_node.remove_node, args=(worker,)).start()

    outcome, folder = _train(scenario, tmp_path / "runs", kill_the_node)
    assert killed.is_set() and outcome.status == "failed", outcome.error
    run = load_run(folder)
    assert "its Ray task failed" in run.book.trials["default"].reason, outcome
    saved = int(json.loads((folder / "variants/default/resume/state.json").read_text())["epoch"])
    assert 1 <= saved < 150

    one_worker_node.add_node(num_cpus=1)
    one_worker_node.wait_for_nodes()
    outcome, _ = _train(scenario, tmp_path / "runs", resume=folder)
    assert outcome.status == "finished", outcome.error
    epochs = [int(row[0]) for row in _history(folder)]
    assert epochs == list(range(1, 151))  # one history: the epochs after the state, no repeats
    resumed = [e for e in load_run(folder).events if type(e).__name__ == "VariantResumed"]
    assert resumed and resumed[0].from_epoch == saved
