"""The shipped scenarios: they validate, match the notebooks' parameter counts, and all run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FASHION_DEBIAN, ROOT, make_cifar_folder, make_npz
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.model.summary import batchnorm_state, summarize
from tuilab.runtime.validation import check_scenario
from tuilab.scenario import load_scenario

SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
EXPECTED_PARAMETERS = {
    "mnist_optimizers": {"adam": (35_090, 0), "sgd": (35_090, 0)},
    "mnist_batchnorm": {
        "plain": (35_090, 0),
        "bn_099": (35_570, 240),
        "bn_05": (35_570, 240),
        "bn_before": (35_570, 240),
    },
    "fashion_cnn_depth": {"blocks3": (56_318, 0), "blocks2": (77_638, 0)},
    "fashion_cnn_batchnorm": {"rmsprop": (78_374, 368), "adam": (78_374, 368)},
    "cifar_bn": {"default": (2_723_062, 6)},
}


@pytest.mark.parametrize("stem", sorted(EXPECTED_PARAMETERS))
def test_parameter_counts_of_the_shipped_scenarios(stem):
    models = check_scenario(load_scenario(ROOT / "scenarios" / f"{stem}.toml"))
    for variant, (total, non_trainable) in EXPECTED_PARAMETERS[stem].items():
        summary = summarize(models[variant])
        assert (summary.total, summary.non_trainable) == (total, non_trainable), variant


def test_cifar_scenario_has_batchnorm_at_the_input_with_12_parameters():
    model = check_scenario(load_scenario(ROOT / "scenarios" / "cifar_bn.toml"))["default"]
    first = summarize(model).rows[0]
    assert (first.type, first.params) == ("BatchNormalization", 12)
    assert set(batchnorm_state(model)[first.name]) == {
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    }


@pytest.fixture(scope="module")
def fake_downloads(tmp_path_factory) -> dict[str, Path]:
    """MNIST and CIFAR-10 in their real formats (this machine cannot download them)."""
    root = tmp_path_factory.mktemp("downloads")
    return {
        "mnist": make_npz(root / "mnist.npz", train=600, test=100),
        "cifar10": make_cifar_folder(root / "cifar-10-batches-py", per_batch=120),
    }


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_shipped_scenario_runs_a_reduced_smoke_run(path, fake_downloads):
    scenario = load_scenario(path)
    if scenario.kind == "descent":
        result = CliRunner().invoke(app, ["run", str(path), "--json"])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [x["variant"] for x in lines] == list(scenario.variants)
        return
    dataset = next(iter(scenario.variants.values())).data.dataset
    overrides = ["fit.epochs=1", "data.limit=500"]
    if dataset in fake_downloads:
        overrides.append(f"data.path={json.dumps(str(fake_downloads[dataset]))}")
    if dataset == "fashion_mnist" and not FASHION_DEBIAN.is_dir():
        pytest.skip("apt-get install dataset-fashion-mnist")
    args = ["run", str(path), "--json", "--no-store"]
    for item in overrides:
        args += ["--set", item]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    finished = [e for e in events if e["event"] == "variant_finished"]
    assert len(finished) == len(load_scenario(path).variants)
    assert all(0.0 <= e["test"]["accuracy"] <= 1.0 for e in finished)
