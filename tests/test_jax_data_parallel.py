"""One trial over several JAX devices with `keras.distribution.DataParallel`, TensorFlow blocked.

JAX is told to show two CPU devices (`--xla_force_host_platform_device_count=2`), so each
global batch really is sharded over two devices and its gradient all-reduced, as on two GPUs.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT

from tuilab.runtime.backends import backend_problems
from tuilab.scenario.loader import load_scenario

pytest.importorskip("jax")

NOTF = ROOT / "tests" / "fixtures" / "notf"
SAME_AS_ONE_DEVICE = 1e-4
"""Two devices against one, same seed and batches: only the order of float sums differs
(measured: about 1e-6)."""

SCENARIO = """
[scenario]
name = "spread"
seed = 11
[data]
dataset = "digits"
normalize = "scale"
flatten = true
SPLIT
[model]
layers = [{ type = "Dense", units = 32, activation = "relu" },
          { type = "BatchNormalization", momentum = 0.9 },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = 3
batch_size = BATCH
[run]
strategy = "STRATEGY"
"""


def scenario(where: Path, strategy: str, batch: int = 64, split: str = "validation_first = 349"):
    """Digits: 1,437 training samples; `validation_first = 349` leaves 1,088 = 17 x 64."""
    text = textwrap.dedent(SCENARIO).replace("STRATEGY", strategy).replace("BATCH", str(batch))
    path = where / f"{strategy}.toml"
    path.write_text(text.replace("SPLIT", split), encoding="utf-8")
    return path


def run(where: Path, path: Path, devices: int) -> tuple[subprocess.CompletedProcess[str], Path]:
    env = {**os.environ, "KERAS_BACKEND": "jax", "TUILAB_RUNS": str(where / "runs")}
    env["PYTHONPATH"] = os.pathsep.join([str(NOTF), str(ROOT)])
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    done = subprocess.run(
        [sys.executable, "-m", "tuilab", "run", str(path), "--headless"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    folders = [p for p in (where / "runs").glob("*/*") if (p / "events.jsonl").exists()]
    return done, folders[0] if folders else where


def events(folder: Path, kind: str) -> list[dict]:
    lines = (folder / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == kind]


def history(folder: Path) -> list[dict[str, float]]:
    with open(folder / "variants" / "default" / "history.csv", newline="") as stream:
        rows = csv.DictReader(stream)
        return [{k: float(v) for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.mark.slow
def test_two_devices_train_as_one_device_does(tmp_path: Path) -> None:
    (tmp_path / "two").mkdir(), (tmp_path / "one").mkdir()
    done, two = run(tmp_path / "two", scenario(tmp_path / "two", "mirrored"), devices=2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "data_parallel ×2 replicas, 32 per replica" in done.stdout
    started = events(two, "variant_started")[0]
    assert (started["strategy"], started["replicas"], started["steps_per_epoch"]) == (
        "data_parallel",
        2,
        17,
    )
    done, one = run(tmp_path / "one", scenario(tmp_path / "one", "default"), devices=1)
    assert done.returncode == 0, done.stdout + done.stderr
    assert events(one, "variant_started")[0]["replicas"] == 1

    spread, single = history(two), history(one)
    assert len(spread) == len(single) == 3
    for a, b in zip(spread, single, strict=True):
        assert a == pytest.approx(b, rel=SAME_AS_ONE_DEVICE), (a, b)
    tested = [
        json.loads((f / "results.json").read_text())["trials"]["default"]["test"]
        for f in (two, one)
    ]
    assert tested[0] == pytest.approx(tested[1], rel=SAME_AS_ONE_DEVICE)


@pytest.mark.slow
def test_an_uneven_last_batch_is_trimmed_and_evaluation_stays_whole(tmp_path: Path) -> None:
    path = scenario(tmp_path, "mirrored", batch=50, split="validation_split = 0.2")
    done, folder = run(tmp_path, path, devices=2)
    assert done.returncode == 0, done.stdout + done.stderr
    started = events(folder, "variant_started")[0]
    # 1,149 training samples: 22 batches of 50, then 49 trimmed to 48 (JAX shards evenly)
    assert started["samples"]["train"] == 1149 and started["steps_per_epoch"] == 23
    assert started["samples"]["validation"] == 288
    for row in history(folder):  # validation saw all 288 samples, not a multiple of 2 of them
        assert row["val_accuracy"] * 288 == pytest.approx(
            round(row["val_accuracy"] * 288), abs=1e-3
        )
    report = events(folder, "classification_report")[-1]
    assert sum(map(sum, report["matrix"])) == 360  # the whole test split, 360 samples
    test = json.loads((folder / "results.json").read_text())["trials"]["default"]["test"]
    assert test["accuracy"] == pytest.approx(report["accuracy"], abs=1e-6)


@pytest.mark.slow
def test_a_batch_that_does_not_split_and_an_unknown_device_fail_with_the_reason(tmp_path) -> None:
    (tmp_path / "odd").mkdir(), (tmp_path / "gpu").mkdir()
    done, folder = run(tmp_path / "odd", scenario(tmp_path / "odd", "mirrored", batch=63), 2)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    reason = events(folder, "variant_failed")[0]["reason"]
    assert (
        reason
        == "batch_size 63 does not split evenly over 2 devices (cpu:0, cpu:1): use a multiple of 2"
    )

    path = scenario(tmp_path / "gpu", "mirrored")
    path.write_text(path.read_text() + 'devices = ["/gpu:0", "/gpu:1"]\n')
    done, folder = run(tmp_path / "gpu", path, 2)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    reason = events(folder, "variant_failed")[0]["reason"]
    assert reason == "no such device: /gpu:0, /gpu:1 (this JAX has cpu:0, cpu:1)"

    (tmp_path / "auto").mkdir()  # "auto" spreads over several GPUs only, not CPU devices
    done, folder = run(tmp_path / "auto", scenario(tmp_path / "auto", "auto"), 2)
    assert done.returncode == 0, done.stdout + done.stderr
    started = events(folder, "variant_started")[0]
    assert (started["strategy"], started["replicas"]) == ("default", 1)


def test_each_backend_refuses_the_distribution_it_lacks(tmp_path) -> None:
    for strategy in ("auto", "mirrored"):
        loaded = load_scenario(scenario(tmp_path, strategy))
        assert backend_problems(loaded, "jax") == []
        (problem,) = backend_problems(loaded, "torch") if strategy == "mirrored" else [None]
        if problem is not None:
            assert "strategy 'mirrored' spreads a trial over devices" in problem.message
            assert "use the jax backend (keras.distribution)" in problem.hint
    loaded = load_scenario(scenario(tmp_path, "multi_worker"))
    (problem,) = backend_problems(loaded, "jax")
    assert "strategy 'multi_worker' is TensorFlow's tf.distribute" in problem.message
    assert 'use strategy = "mirrored" on JAX' in problem.hint
