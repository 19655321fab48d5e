"""tf.distribute strategies: MirroredStrategy over two logical CPUs, a real two-worker cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from tuilab.runtime.distribute import is_chief

MIRROR = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tuilab.runtime.runner import Runner
from tuilab.scenario import load_scenario
results = {}
for strategy in ("default", "mirrored"):
    overrides = ["fit.epochs=5", f"run.strategy={json.dumps(strategy)}"]
    if strategy == "mirrored":
        overrides.append('run.devices=["/cpu:0", "/cpu:1"]')
    scenario = load_scenario(sys.argv[1], overrides).select(["adam"])
    events = []
    Runner(scenario, events.append).run()
    started = [e for e in events if e.kind == "variant_started"][0]
    finished = [e for e in events if e.kind == "variant_finished"][0]
    results[strategy] = {"replicas": started.replicas, "strategy": started.strategy,
                         "test": finished.test}
print("RESULT " + json.dumps(results))
"""


def test_mirrored_over_two_logical_cpus_matches_one_device():
    """Logical devices must be set before TensorFlow starts, so this runs in its own process."""
    result = subprocess.run(
        [sys.executable, "-c", MIRROR, str(ROOT / "scenarios" / "digits_quick.toml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, result.stdout + result.stderr
    results = json.loads(line.removeprefix("RESULT "))
    assert results["default"]["replicas"] == 1
    assert (results["mirrored"]["strategy"], results["mirrored"]["replicas"]) == ("mirrored", 2)
    single, mirrored = results["default"]["test"], results["mirrored"]["test"]
    assert abs(single["loss"] - mirrored["loss"]) < 0.05
    assert abs(single["accuracy"] - mirrored["accuracy"]) < 0.03


@pytest.mark.parametrize(
    ("tf_config", "chief"),
    [
        ("", True),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}', True),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}', False),
        (
            '{"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", '
            '"index": 0}}',
            False,
        ),
        (
            '{"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief", '
            '"index": 0}}',
            True,
        ),
    ],
)
def test_only_the_chief_of_a_cluster_writes_the_run_store(monkeypatch, tf_config, chief):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    assert is_chief() is chief


def _free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (bound to 0, read, released)."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _final_test(stdout: str) -> dict:
    """The test-split figures of the one trial in a `--json` event stream."""
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    (finished,) = [e for e in events if e["event"] == "variant_finished"]
    return finished["test"]


def test_two_real_workers_train_together_and_only_the_chief_stores(tmp_path):
    """Two processes on 127.0.0.1 form a TF_CONFIG cluster and train one variant in lockstep."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    scenario = str(ROOT / "scenarios" / "digits_quick.toml")
    args = ["-m", "tuilab", "run", scenario, "--json", "-v", "adam", "--set", "fit.epochs=3"]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config)}
        runs = tmp_path / f"runs{index}"
        command = [sys.executable, *args, "--set", 'run.strategy="multi_worker"']
        command += ["--runs-dir", str(runs)]
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    events = [json.loads(line) for line in outputs[0].splitlines() if line.startswith("{")]
    started = next(e for e in events if e["event"] == "variant_started")
    assert (started["strategy"], started["replicas"]) == ("multi_worker", 2)
    chief, other = _final_test(outputs[0]), _final_test(outputs[1])
    assert chief == pytest.approx(other, abs=1e-6)  # the workers hold the same model
    (run,) = (tmp_path / "runs0" / "digits_quick").iterdir()
    results = json.loads((run / "results.json").read_text())
    assert results["trials"]["adam"]["status"] == "finished"
    assert not (tmp_path / "runs1").exists()  # the other worker wrote nothing
    single = subprocess.run(
        [sys.executable, *args, "--no-store"], capture_output=True, text=True, timeout=300
    )
    alone = _final_test(single.stdout)  # the same global batch on one device
    assert abs(alone["loss"] - chief["loss"]) < 0.05
    assert abs(alone["accuracy"] - chief["accuracy"]) < 0.03
