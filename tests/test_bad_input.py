"""Bad input of every kind: one clear message naming file and key, exit 2, nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, make_idx_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.errors import TuilabError
from tuilab.runtime.store import safe_name
from tuilab.runtime.validation import check_scenario
from tuilab.scenario import load_scenario

CORPUS = sorted((ROOT / "tests" / "corpus").glob("*.toml"))


def expected_message(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), path
    return first.removeprefix("# expect: ")


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 60


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_validate_gives_the_exact_message(path):
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert any(line.startswith(str(path)) and expected_message(path) in line for line in lines), (
        result.output
    )


@pytest.mark.parametrize("path", CORPUS[::3], ids=[p.stem for p in CORPUS[::3]])
def test_run_refuses_bad_input_and_stores_nothing(path, tmp_path):
    runs = tmp_path / "runs"
    result = CliRunner().invoke(app, ["run", str(path), "--headless", "--runs-dir", str(runs)])
    assert result.exit_code == 2 and expected_message(path) in result.output
    assert not runs.exists()


def test_a_50_megabyte_file(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_bytes(b"# padding\n" * 5_000_000)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "is 50,000,000 bytes; a scenario file is at most 1,000,000" in result.output


BASE = ROOT / "tests" / "corpus" / "01-syntax-double-equals.toml"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("corrupt-idx", "header promises"),
        ("corrupt-npz", "not a readable .npz file"),
        ("corrupt-cifar", "not a CIFAR-10 batch"),
        ("missing", "dataset 'cifar10' not found; looked in:"),
    ],
)
def test_unreadable_data_is_a_clear_error_before_anything_is_stored(
    write_scenario, tmp_path, setup, expected
):
    dataset, path = "mnist", tmp_path / "data"
    if setup == "corrupt-idx":
        make_idx_folder(path, gz=False)
        (path / "train-images-idx3-ubyte").write_bytes(
            (path / "train-images-idx3-ubyte").read_bytes()[:-100]
        )
    elif setup == "corrupt-npz":
        path = tmp_path / "mnist.npz"
        path.write_bytes(b"PK\x03\x04 this is not really a zip")
    elif setup == "corrupt-cifar":
        dataset = "cifar10"
        path.mkdir()
        for name in ("data_batch_1", "test_batch"):
            (path / name).write_bytes(b"\x80\x04garbage")
    else:
        dataset, path = "cifar10", None
    data_path = f'path = "{path}"' if path else ""
    text = f"""
[data]
dataset = "{dataset}"
flatten = true
{data_path}
[model]
layers = [{{ type = "Dense", units = 10, activation = "softmax" }}]
"""
    runs = tmp_path / "runs"
    result = CliRunner().invoke(
        app, ["run", str(write_scenario(text)), "--headless", "--runs-dir", str(runs)]
    )
    assert result.exit_code == 2 and expected in result.output
    assert "Traceback" not in result.output and not runs.exists()


def test_run_names_cannot_escape_the_runs_folder():
    assert safe_name("../../etc") == "_.._etc"
    assert "/" not in safe_name("a/b") and not safe_name("..hidden").startswith(".")
    assert safe_name("") == "run" and safe_name("ok_name-1.2") == "ok_name-1.2"


VALID = (ROOT / "scenarios" / "digits_quick.toml").read_text()
KEYS = [
    "data.normalize",
    "data.flatten",
    "data.validation_split",
    "fit.epochs",
    "fit.batch_size",
    "compile.optimizer",
    "compile.loss",
    "model.layers",
    "model.batchnorm",
    "scenario.seed",
    "callbacks",
    "data.dataset",
    "run.repeats",
    "compile.metrics",
    "model.layers[0].units",
    "variants.sgd.compile.optimizer",
]
VALUES = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=8),
    st.lists(st.integers(-2, 2), max_size=3),
    st.sampled_from(['"Dense"', '{ type = "Conv2D" }', "[]", "{}", '"adam"', '"relu"']),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_mutated_scenarios_are_valid_or_a_clear_error_never_a_crash(tmp_path, key, value):
    path = tmp_path / "mutated.toml"
    path.write_text(VALID, encoding="utf-8")
    toml_value = value if isinstance(value, str) and value[:1] in '"{[' else _toml(value)
    try:
        scenario = load_scenario(path, [f"{key}={toml_value}"])
        check_scenario(scenario)
    except TuilabError as exc:
        assert str(exc).startswith(str(path)) or "--set" in str(exc)


def _toml(value: object) -> str:
    import json
    import math

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return json.dumps(value)
