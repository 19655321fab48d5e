"""tf.distribute strategies: MirroredStrategy over two logical CPUs, cluster roles."""

from __future__ import annotations

import json
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
