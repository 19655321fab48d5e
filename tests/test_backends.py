"""tuilab on JAX (and PyTorch where installed), run as a user would, with TensorFlow blocked.

Each case is a subprocess with `KERAS_BACKEND` set and tests/fixtures/notf on `PYTHONPATH`,
which makes TensorFlow look uninstalled: anything that imports it fails the case. The
TensorFlow side, where compared, runs in its own subprocess too.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT, torch_path

pytest.importorskip("jax")

NOTF = ROOT / "tests" / "fixtures" / "notf"
SCENARIOS = ROOT / "scenarios"
ACCURACY_GAP = 0.05
"""Digits test accuracy, TensorFlow against JAX after the same 8 epochs: the backends draw
other initial weights and another shuffling order from the same seed, so curves differ;
both land within this of each other (measured: 0.006 to 0.02)."""

DIGITS = """
[scenario]
name = "backend digits"
seed = 5
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 32, activation = "relu" },
          { type = "BatchNormalization" },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = EPOCHS
batch_size = 32
[variants.adam]
compile.optimizer = { type = "Adam", learning_rate = 0.005 }
"""


def tuilab(
    backend: str | None, *args: str, cwd: Path = ROOT, block_tensorflow: bool = True
) -> subprocess.CompletedProcess[str]:
    """`python -m tuilab ARGS` on `backend` (None: KERAS_BACKEND unset)."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if backend:
        env["KERAS_BACKEND"] = backend
    paths = [str(NOTF)] if block_tensorflow else []
    if backend == "torch" and torch_path():
        paths.append(str(torch_path()))
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(ROOT)])
    env["TUILAB_RUNS"] = str(cwd / "runs")
    return subprocess.run(
        [sys.executable, "-m", "tuilab", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def digits(tmp_path: Path, epochs: int = 3, extra: str = "") -> Path:
    path = tmp_path / "digits.toml"
    text = textwrap.dedent(DIGITS).replace("EPOCHS", str(epochs)) + textwrap.dedent(extra)
    path.write_text(text, encoding="utf-8")
    return path


def only_run(runs: Path) -> Path:
    (folder,) = [p for p in runs.glob("*/*") if (p / "events.jsonl").exists()]
    return folder


def events(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]


NO_TORCH = pytest.mark.skipif(torch_path() is None, reason="torch is not importable")
LABELS = {"jax": "JAX", "torch": "PyTorch"}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", pytest.param("torch", marks=NO_TORCH)])
def test_the_main_job_runs_without_tensorflow(backend: str, tmp_path: Path) -> None:
    done = tuilab(backend, "run", str(SCENARIOS / "digits_quick.toml"), "--headless", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert LABELS[backend] in done.stdout and "TensorFlow" not in done.stdout
    folder = only_run(tmp_path / "runs")
    started = events(folder)[0]
    assert started["device"]["backend"] == backend and "tensorflow" not in started["device"]
    begun = [e for e in events(folder) if e["event"] == "variant_started"]
    assert {e["compiler"] for e in begun} == {"XLA" if backend == "jax" else "torch.compile"}
    results = json.loads((folder / "results.json").read_text())
    for trial in ("adam", "sgd", "adam_bn"):
        assert results["trials"][trial]["status"] == "finished"
        assert results["trials"][trial]["test"]["accuracy"] > 0.9
        assert (folder / "variants" / trial / "tensorboard").is_dir()
        kinds = {e["event"] for e in events(folder) if e.get("trial") == trial}
        assert {"layer_stats", "classification_report", "epoch_ended"} <= kinds


@pytest.mark.slow
def test_the_same_seed_on_jax_gives_the_same_curves(tmp_path: Path) -> None:
    histories = []
    for attempt in ("one", "two"):
        where = tmp_path / attempt
        where.mkdir()
        done = tuilab("jax", "run", str(digits(where)), "--headless", cwd=where)
        assert done.returncode == 0, done.stderr
        history = only_run(where / "runs") / "variants" / "adam" / "history.csv"
        histories.append([row[:-1] for row in csv.reader(history.open())])  # last: seconds
    assert histories[0] == histories[1] and len(histories[0]) == 4


def _test_accuracy(where: Path, backend: str) -> float:
    scenario = digits(where, epochs=8)
    done = tuilab(backend, "run", str(scenario), "--headless", cwd=where, block_tensorflow=False)
    assert done.returncode == 0, done.stderr
    results = json.loads((only_run(where / "runs") / "results.json").read_text())
    return float(results["trials"]["adam"]["test"]["accuracy"])


@pytest.mark.slow
def test_tensorflow_and_jax_agree_on_digits_within_the_stated_gap(tmp_path: Path) -> None:
    accuracy = {}
    for backend in ("tensorflow", "jax"):
        (tmp_path / backend).mkdir()
        accuracy[backend] = _test_accuracy(tmp_path / backend, backend)
    assert min(accuracy.values()) > 0.9, accuracy
    assert abs(accuracy["tensorflow"] - accuracy["jax"]) <= ACCURACY_GAP, accuracy


@pytest.mark.slow
def test_a_scenario_can_name_its_backend(tmp_path: Path) -> None:
    scenario = digits(tmp_path, epochs=1, extra='[run]\nbackend = "jax"\n')
    done = tuilab(None, "run", str(scenario), "--headless", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert events(only_run(tmp_path / "runs"))[0]["device"]["backend"] == "jax"


@pytest.mark.parametrize("backend", ["jax", "tensorflow", pytest.param("torch", marks=NO_TORCH)])
def test_every_shipped_scenario_validates(backend: str, tmp_path: Path) -> None:
    done = tuilab(
        backend, "validate", str(SCENARIOS), cwd=tmp_path, block_tensorflow=backend != "tensorflow"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(list(SCENARIOS.glob("*.toml"))) == done.stdout.count("ok")


def test_tensorflow_only_features_are_refused_on_jax_with_the_reason(tmp_path: Path) -> None:
    extra = """
    [run]
    strategy = "multi_worker"
    [[callbacks]]
    type = "TensorBoard"
    """
    done = tuilab("jax", "validate", str(digits(tmp_path, extra=extra)), cwd=tmp_path)
    assert done.returncode == 2
    text = " ".join((done.stdout + done.stderr).split())
    assert "strategy 'multi_worker' is TensorFlow's tf.distribute" in text
    assert "Keras's TensorBoard callback needs TensorFlow" in text
    done = tuilab("jax", "run", str(digits(tmp_path, extra=extra)), "--headless", cwd=tmp_path)
    assert done.returncode == 2 and not (tmp_path / "runs").exists()


def test_a_missing_backend_is_named_with_how_to_install_it(tmp_path: Path) -> None:
    done = tuilab(None, "validate", str(digits(tmp_path)), cwd=tmp_path)  # TensorFlow blocked
    assert done.returncode == 2
    text = " ".join((done.stdout + done.stderr).split())
    assert "the Keras backend tensorflow is not installed: pip install tensorflow" in text
    assert "installed here: jax" in text


def test_variants_on_different_backends_are_refused(tmp_path: Path) -> None:
    extra = '[run]\nbackend = "tensorflow"\n[variants.other]\nrun.backend = "jax"\n'
    done = tuilab("jax", "validate", str(digits(tmp_path, extra=extra)), cwd=tmp_path)
    assert done.returncode == 2
    assert "variants ask for different Keras backends" in done.stdout + done.stderr


APP = """
import asyncio, sys
from pathlib import Path
from tuilab.app.app import create_app
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.runtime.session import RunRequest

scenario, runs = Path(sys.argv[1]), Path(sys.argv[2])


async def main():
    app = create_app(scenario.parent, runs, run=RunRequest(scenario, runs_dir=runs))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        for _ in range(600):
            await pilot.pause(0.1)
            if not dashboard.running and dashboard.state.book.trials:
                break
        result = dashboard.state.book.trials["adam"]
        print(result.status, result.epochs, dashboard.state.device)
        print("tensorflow" in sys.modules)


asyncio.run(main())
"""


@pytest.mark.slow
def test_the_app_trains_on_jax_without_tensorflow(tmp_path: Path) -> None:
    script = tmp_path / "app_on_jax.py"
    script.write_text(APP, encoding="utf-8")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env["PYTHONPATH"] = os.pathsep.join([str(NOTF), str(ROOT), str(ROOT / "tests")])
    done = subprocess.run(
        [sys.executable, str(script), str(digits(tmp_path, epochs=2)), str(tmp_path / "runs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    status, sidebar = done.stdout.splitlines()
    assert status.startswith("finished 2 ") and status.endswith("CPU · JAX")
    assert sidebar == "False"


TRAIN_HERE = """
import sys
from pathlib import Path
from tuilab.runtime.session import RunRequest, execute, prepare_run

runner, store = prepare_run(RunRequest(Path(sys.argv[1]), runs_dir=Path(sys.argv[2])))
execute(runner, store, lambda event: None)
print("tensorflow" in sys.modules, sorted(m for m in sys.modules if m.startswith("tensorflow"))[:3])
"""


@pytest.mark.slow
def test_a_jax_run_leaves_an_installed_tensorflow_unimported(tmp_path: Path) -> None:
    """Not blocked this time: nothing on the training path may import TensorFlow on JAX."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", TRAIN_HERE, str(digits(tmp_path, epochs=2)), str(tmp_path / "r")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False []"


@pytest.mark.slow
def test_a_run_resumes_on_the_backend_it_started_on(tmp_path: Path) -> None:
    """Started on JAX, stopped, resumed with no KERAS_BACKEND (TensorFlow, the default, blocked)."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "TUILAB_RUNS": str(tmp_path / "runs")}
    env["PYTHONPATH"] = os.pathsep.join([str(NOTF), str(ROOT)])
    scenario = digits(tmp_path, epochs=100)
    process = subprocess.Popen(
        [sys.executable, "-m", "tuilab", "run", str(scenario), "--headless"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            logs = list((tmp_path / "runs").glob("*/*/events.jsonl"))
            if logs and '"event":"epoch_ended"' in logs[0].read_text():
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 143, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    folder = only_run(tmp_path / "runs")
    done = tuilab(None, "resume", str(folder), "--headless", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "JAX" in done.stdout and "TensorFlow" not in done.stdout
    resumed = [e for e in events(folder) if e["event"] == "run_resumed"]
    assert resumed and resumed[0]["device"]["backend"] == "jax"
    results = json.loads((folder / "results.json").read_text())
    assert results["trials"]["adam"]["status"] == "finished"
    assert results["trials"]["adam"]["epochs"] == 100


def test_the_start_line_names_what_jit_compile_means_on_the_backend() -> None:
    from tuilab.presentation.describe import describe
    from tuilab.runtime.events import VariantStarted

    for compiler in ("XLA", "torch.compile"):
        started = VariantStarted("t", "t", 1, 0, 2, 5, 32, jit_compile=True, compiler=compiler)
        assert describe(started).endswith(f"5 steps × 2 epochs, {compiler}")
    assert not describe(VariantStarted("t", "t", 1, 0, 2, 5, 32)).endswith("XLA")
