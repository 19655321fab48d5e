"""Gradients off TensorFlow: the layer probe and the descent playground on jax (and torch).

The Keras backend is fixed per process, so each other-backend case runs in a subprocess with
KERAS_BACKEND set and TensorFlow blocked (tests/fixtures/notf/sitecustomize.py makes it look
uninstalled: any TensorFlow import there raises). The TensorFlow side runs in this process.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, torch_path

NOTF = ROOT / "tests" / "fixtures" / "notf"
PROBE_REL = 1e-5  # per-layer gradient norms, TensorFlow against another backend (float32)
GD_ABS = 1e-12  # plain-descent trajectories, float64 on both sides

# The digits model both sides build; weights travel through a .weights.h5 file.
MODEL = """
import numpy as np
from tuilab.backend import import_keras
from tuilab.data.sources import load_digits_splits

keras = import_keras()
x_train, y_train, _, _ = load_digits_splits(0)
x_train = (x_train.reshape(len(x_train), -1) / 16.0).astype("float32")


def digits_model():
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu", kernel_regularizer="l2"),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model
"""

PROBE = """
import json, sys
from tuilab.runtime.layer_stats import LayerProbe

model = digits_model()
model.load_weights(sys.argv[1])
norms = LayerProbe.first_batch(x_train, y_train, 64).norms(model)
print(json.dumps({"norms": norms, "tensorflow": "tensorflow" in sys.modules}))
"""

EPOCHS = """
import json, sys
from tuilab.runtime.layer_stats import LayerProbe

keras.utils.set_random_seed(4)
model = digits_model()
probe = LayerProbe.first_batch(x_train, y_train, 64)
events = [probe.measure("t", 0, model)]


class Measure(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        events.append(probe.measure("t", epoch + 1, self.model))


model.fit(x_train, y_train, batch_size=64, epochs=3, verbose=0, callbacks=[Measure()])
print(json.dumps({
    "epochs": [e.epoch for e in events if e is not None],
    "layers": [sorted(e.layers) for e in events if e is not None],
    "gradients": [[n["gradient_norm"] for n in e.layers.values()] for e in events if e],
    "failure": probe.failure,
    "tensorflow": "tensorflow" in sys.modules,
}))
"""

DESCENT = """
import json, sys
from tuilab.descent.run import run_descent
from tuilab.scenario import load_scenario

scenario = load_scenario(sys.argv[1])
paths = {n: run_descent(v.descent) for n, v in scenario.variants.items()}
print(json.dumps({
    "paths": {n: {"points": p.points, "values": p.values} for n, p in paths.items()},
    "tensorflow": "tensorflow" in sys.modules,
}))
"""


@cache
def _backends() -> list:
    torch_skip = pytest.mark.skipif(torch_path() is None, reason="torch is not installed")
    return [pytest.param("jax", id="jax"), pytest.param("torch", id="torch", marks=torch_skip)]


def run_on(backend: str, code: str, *args: str, block_tf: bool = True) -> dict:
    """Run `code` (after MODEL when it needs the model) on `backend` in a fresh process."""
    if backend == "jax":
        pytest.importorskip("jax")
    paths = [str(NOTF)] if block_tf else []
    if backend == "torch" and torch_path():
        paths.append(torch_path() or "")
    paths.append(str(ROOT))
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if block_tf:
        assert result["tensorflow"] is False
    return result


@pytest.fixture(scope="module")
def tf_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A seeded digits model trained one epoch on TensorFlow: its weights and probe norms."""
    from tuilab.autodiff import backend_name
    from tuilab.runtime.layer_stats import LayerProbe

    if backend_name() != "tensorflow":
        pytest.skip("the reference side runs on TensorFlow")
    scope: dict = {}
    exec(MODEL, scope)
    keras = scope["keras"]
    keras.utils.set_random_seed(4)
    model = scope["digits_model"]()
    x, y = scope["x_train"], scope["y_train"]
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("weights") / "digits.weights.h5"
    model.save_weights(path)
    return path, LayerProbe.first_batch(x, y, 64).norms(model)


@pytest.mark.slow
@pytest.mark.parametrize("backend", _backends())
def test_probe_gradients_match_tensorflow_on_the_same_weights(backend, tf_weights) -> None:
    path, expected = tf_weights
    norms = run_on(backend, MODEL + PROBE, str(path))["norms"]
    assert list(norms) == list(expected)
    assert len(expected) == 3  # Dense, BatchNormalization, Dense
    for name, ours in norms.items():
        theirs = expected[name]
        assert ours["weights"] == theirs["weights"]
        assert ours["weight_norm"] == pytest.approx(theirs["weight_norm"], rel=1e-6)
        assert theirs["gradient_norm"] > 0.0
        assert ours["gradient_norm"] == pytest.approx(theirs["gradient_norm"], rel=PROBE_REL)


@pytest.mark.slow
@pytest.mark.parametrize("backend", _backends())
def test_the_probe_measures_every_epoch_without_tensorflow(backend) -> None:
    result = run_on(backend, MODEL + EPOCHS)
    assert result["failure"] is None
    assert result["epochs"] == [0, 1, 2, 3]
    assert all(layers == result["layers"][0] for layers in result["layers"])
    assert len(result["layers"][0]) == 3
    for gradients in result["gradients"]:
        assert all(math.isfinite(g) and g > 0.0 for g in gradients)


@pytest.mark.slow
def test_a_headless_run_on_jax_stores_layer_stats_every_epoch(tmp_path: Path) -> None:
    """The whole run, with TensorFlow blocked."""
    pytest.importorskip("jax")
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(
        textwrap.dedent(
            """
            [scenario]
            name = "tiny"
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
            epochs = 2
            batch_size = 64
            """
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": f"{NOTF}{os.pathsep}{ROOT}"}
    command = [sys.executable, "-m", "tuilab", "run", str(scenario), "--headless"]
    command += ["--runs-dir", str(tmp_path / "runs")]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (events,) = (tmp_path / "runs").glob("*/*/events.jsonl")
    stats = [json.loads(line) for line in events.read_text().splitlines() if "layer_stats" in line]
    assert [s["epoch"] for s in stats] == [0, 1, 2]


def _descent_on_tensorflow() -> dict[str, dict]:
    from tuilab.autodiff import backend_name
    from tuilab.descent.run import run_descent
    from tuilab.scenario import load_scenario

    if backend_name() != "tensorflow":
        pytest.skip("the reference side runs on TensorFlow")
    scenario = load_scenario(ROOT / "scenarios" / "descent_xsin.toml")
    return {n: run_descent(v.descent).points for n, v in scenario.variants.items()}


@pytest.mark.slow
@pytest.mark.parametrize("backend", _backends())
def test_descent_follows_the_same_path_as_on_tensorflow(backend) -> None:
    """Plain descent agrees to 1e-12 (float64 on both sides). The Keras optimizers agree to
    1e-5: TensorFlow's update computes some hyperparameter terms in float32 (its Adam is 1.7e-7
    from the float64 rule), jax under x64 does not (5.7e-10)."""
    expected = _descent_on_tensorflow()
    result = run_on(backend, DESCENT, str(ROOT / "scenarios" / "descent_xsin.toml"))
    assert list(result["paths"]) == list(expected)
    for name, path in result["paths"].items():
        ours, theirs = np.array(path["points"]), np.array(expected[name])
        assert ours.shape == theirs.shape
        if name.startswith("gd_"):
            assert np.max(np.abs(ours - theirs)) <= GD_ABS, name
        else:
            assert ours == pytest.approx(theirs, rel=1e-5), name
    assert result["paths"]["gd_100"]["points"][-1][0] == pytest.approx(2.1945027495644505)
