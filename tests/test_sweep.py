"""Sweeps: expansion, names, random draws, validation, the run store, and the sweep table."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from conftest import toml_string
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.errors import ScenarioError, UsageError
from tuilab.presentation.sweeps import SweepRow, best_trial, sweep_chart_text, sweep_rows
from tuilab.presentation.text import has_control
from tuilab.runtime.events import EpochEnded, VariantFinished, VariantStarted
from tuilab.runtime.results import ResultsBook
from tuilab.runtime.run_folder import RunFolder, trial_folder_name
from tuilab.runtime.runner import plan_trials
from tuilab.scenario import load_scenario
from tuilab.scenario.merge import sweep_items
from tuilab.scenario.resolved import scenario_from_resolved
from tuilab.scenario.sweep_record import SWEEP_NAME, SweepInfo, SweepPoint, value_labels

BASE = """
[scenario]
name = "sweep"
seed = 3
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 8, activation = "relu" },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = 2
batch_size = 64
"""
VARIANTS = """
[variants.adam]
[variants.sgd]
compile.optimizer = { type = "SGD", momentum = 0.9 }
"""
GRID = """
[sweep]
"compile.optimizer.learning_rate" = [0.01, 0.1]
fit.batch_size = [32, 64]
"""
RANDOM = """
[sweep]
method = "random"
samples = 6
seed = 11
"compile.optimizer.learning_rate" = { log_uniform = [1e-4, 1e-1] }
"fit.batch_size" = { int_uniform = [16, 256] }
"model.layers.0.activation" = { choice = ["relu", "tanh"] }
"model.layers.0.kernel_regularizer" = [{ type = "L2", l2 = 0.01 }, { type = "L1" }]
"""


def invoke(*args: str, columns: int = 80):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})


def refused(text: str, write_scenario, *sets: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write_scenario(text), list(sets))
    return str(caught.value)


# -- expansion ----------------------------------------------------------------------------


def test_a_grid_over_two_keys_is_crossed_with_the_variants_and_repeated(write_scenario):
    text = BASE + "[run]\nrepeats = 2\n" + VARIANTS + GRID
    scenario = load_scenario(write_scenario(text))
    names = [
        f"{v}[lr={lr},batch={b}]"
        for v in ("adam", "sgd")
        for lr in ("0.01", "0.1")
        for b in (32, 64)
    ]
    assert list(scenario.variants) == names
    sgd = scenario.variants["sgd[lr=0.1,batch=32]"]
    assert sgd.compile.optimizer == {"type": "SGD", "momentum": 0.9, "learning_rate": 0.1}
    assert sgd.fit.batch_size == 32 and sgd.fit.epochs == 2
    adam = scenario.variants["adam[lr=0.01,batch=64]"]
    assert adam.compile.optimizer == {"type": "Adam", "learning_rate": 0.01}  # "adam" -> table
    trials = plan_trials(scenario)
    assert len(trials) == 16
    assert [t.name for t in trials[:2]] == [f"{names[0]}.r1", f"{names[0]}.r2"]
    assert [t.seed for t in trials[:2]] == [3, 4]
    sweep = scenario.sweep
    assert sweep.keys == ("compile.optimizer.learning_rate", "fit.batch_size")
    assert sweep.short == ("lr", "batch") and sweep.method == "grid"
    assert sweep.trials["sgd[lr=0.1,batch=32]"] == SweepPoint("sgd", (0.1, 32), ("0.1", "32"))
    assert list(scenario.select(["sgd"]).variants) == names[4:]  # a variant means its trials
    assert list(scenario.select([names[1]]).sweep.trials) == [names[1]]


def test_sweep_values_win_over_variants_and_lists_are_indexed(write_scenario):
    text = (
        BASE
        + '[variants.wide]\nfit.batch_size = 8\n[sweep]\n"model.layers.0.units" = [4, 12]\n'
        + "fit.batch_size = [16]\n"
    )
    scenario = load_scenario(write_scenario(text))
    assert list(scenario.variants) == ["wide[units=4,batch=16]", "wide[units=12,batch=16]"]
    config = scenario.variants["wide[units=12,batch=16]"]
    assert config.model.layers[0]["units"] == 12 and config.fit.batch_size == 16
    assert config.model.layers[1]["units"] == 10


def test_short_names_stay_unique_and_values_read_alike_are_numbered():
    from tuilab.scenario.sweep_record import short_names

    paths = [("compile", "optimizer", "momentum"), ("model", "batchnorm", "momentum")]
    assert short_names(paths) == ["optimizer.momentum", "batchnorm.momentum"]
    assert short_names([("model", "layers", "0", "units")]) == ["units"]
    assert value_labels([1e-5, 0.5, 1e16, 64]) == ["1e-5", "0.5", "1e16", "64"]
    assert value_labels([1, 1.0]) == ["#1", "#2"]
    assert value_labels(["Adam", "adam"]) == ["#1", "#2"]  # one folder on macOS otherwise
    assert value_labels([{"type": "SGD"}, {"type": "Adam"}]) == ["SGD", "Adam"]
    assert value_labels([[1, 2], [3]]) == ["#1", "#2"]


# -- random sweeps ------------------------------------------------------------------------


def test_a_random_sweep_is_reproducible_from_its_seed(write_scenario):
    path = write_scenario(BASE + RANDOM)
    first, again = load_scenario(path), load_scenario(path)
    assert list(first.variants) == list(again.variants) and len(first.variants) == 6
    assert first.sweep.seed == 11 and first.sweep.samples == 6
    assert first.sweep.log_keys == ("compile.optimizer.learning_rate",)
    other = load_scenario(path, ["sweep.seed=12"])
    assert list(other.variants) != list(first.variants)
    unseeded = write_scenario(BASE + RANDOM.replace("seed = 11\n", ""), "unseeded.toml")
    by_scenario = load_scenario(unseeded)
    assert by_scenario.sweep.seed == 3  # the scenario's seed
    assert list(load_scenario(unseeded, ["scenario.seed=4"]).variants) != list(by_scenario.variants)


def test_random_values_stay_within_their_distributions(write_scenario):
    text = (
        BASE
        + '[sweep]\nmethod = "random"\nsamples = 300\n'
        + '"compile.optimizer.learning_rate" = { log_uniform = [1e-4, 1e-1] }\n'
        + '"fit.batch_size" = { int_uniform = [16, 256] }\n'
        + '"model.layers.0.units" = { int_uniform = [4, 9] }\n'
        + '"data.validation_split" = { uniform = [0.1, 0.3] }\n'
    )
    points = list(load_scenario(write_scenario(text)).sweep.trials.values())
    assert len(points) == 300  # distinct combinations
    rates = [p.values[0] for p in points]
    assert all(1e-4 <= r <= 1e-1 for r in rates)
    assert sum(r < 1e-3 for r in rates) > 50  # log-uniform: a third of the draws per decade
    assert all(type(p.values[1]) is int and 16 <= p.values[1] <= 256 for p in points)
    assert {p.values[2] for p in points} == set(range(4, 10))  # both ends included
    assert all(0.1 <= p.values[3] <= 0.3 for p in points)
    assert all(float(f"{r:.3g}") == r for r in rates)  # names show the values exactly


def test_a_random_sweep_of_few_choices_makes_each_combination_once(write_scenario):
    text = BASE + '[sweep]\nmethod = "random"\nsamples = 10\nfit.batch_size = [16, 32, 64]\n'
    scenario = load_scenario(write_scenario(text))
    assert sorted(scenario.variants) == sorted(f"default[batch={b}]" for b in (16, 32, 64))


# -- validation ---------------------------------------------------------------------------


def test_a_bad_combination_is_named_by_its_values_and_nothing_is_stored(write_scenario, tmp_path):
    path = write_scenario(BASE + VARIANTS + "[sweep]\nfit.batch_size = [32, 0]\n")
    runs = tmp_path / "runs"
    result = invoke("run", str(path), "--headless", "--runs-dir", str(runs))
    assert result.exit_code == 2
    assert "sweep adam[batch=0]: fit.batch_size: should be greater than or equal to 1" in (
        result.output
    )
    assert "sgd[" not in result.output  # the first bad combination only
    assert not runs.exists() or not any(runs.iterdir())
    built = write_scenario(BASE + '[sweep]\n"model.layers.0.units" = [8, -1]\n', "built.toml")
    result = invoke("validate", str(built))
    assert result.exit_code == 2
    assert "sweep default[units=-1]: model.layers[0]" in result.output


def test_a_sweep_key_that_does_not_exist_is_refused_with_a_suggestion(write_scenario):
    message = refused(BASE + "[sweep]\nfit.epoch = [1, 2]\n", write_scenario)
    assert "sweep.fit.epoch: no key 'epoch' in fit (did you mean 'epochs'?)" in message
    message = refused(BASE + '[sweep]\n"data.normalise" = ["scale"]\n', write_scenario)
    assert "did you mean 'normalize'?" in message
    message = refused(BASE + "[sweep]\nscenario.seed = [1, 2]\n", write_scenario)
    assert "scenario.* cannot be swept" in message and "repeats" in message
    message = refused(BASE + VARIANTS + "[sweep]\nvariants.adam.fit.epochs = [1]\n", write_scenario)
    assert "variants.* cannot be swept" in message
    message = refused(BASE + '[sweep]\n"model.layers.5.units" = [1]\n', write_scenario)
    assert "model.layers is a list of 2 item(s): '5' is not an index of it" in message
    message = refused(BASE + '[sweep]\n"data.dataset.x" = [1]\n', write_scenario)
    assert "data.dataset" in message


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("fit.batch_size = []", "is an empty list"),
        ("fit.batch_size = 32", "give a list of values to sweep, got 32"),
        ("fit.batch_size = {}", "give a list of values"),
        ('"fit.batch_size" = [32, nan]', "holds nan or inf"),
        ("fit.batch_size = [32, 64, 32]", "lists 32 twice"),
        ("fit.batch_size = { int_uniform = [16, 64] }", "a grid takes a list of values"),
        ('method = "random"\nfit.epochs = [1]', "needs samples = N"),
        ('method = "bayes"\nfit.epochs = [1]', "should be 'grid' or 'random'"),
        ("samples = 3\nfit.epochs = [1]", 'samples and seed are for method = "random"'),
        ("", "has no keys to sweep"),
    ],
)
def test_malformed_sweep_tables_are_refused(write_scenario, table, expected):
    assert expected in refused(BASE + "[sweep]\n" + table + "\n", write_scenario)


@pytest.mark.parametrize(
    ("law", "expected"),
    [
        ('{ log_uniform = ["a", 1] }', "should be a valid number"),
        ("{ log_uniform = [0, 1] }", "takes positive numbers"),
        ("{ uniform = [2, 1] }", "low <= high"),
        ("{ uniform = [1, inf] }", "finite numbers"),
        ("{ int_uniform = [1.5, 3] }", "should be a valid integer"),
        ("{ int_uniform = [1] }", "at least 2 items"),
        ("{ choice = [] }", "at least 1 item"),
        ("{ choice = [1], uniform = [1, 2] }", "unknown key 'uniform'"),
    ],
)
def test_malformed_distributions_are_refused(write_scenario, law, expected):
    text = BASE + f'[sweep]\nmethod = "random"\nsamples = 2\n"fit.batch_size" = {law}\n'
    assert expected in refused(text, write_scenario)


def test_a_huge_sweep_is_refused_before_anything_is_expanded(write_scenario):
    keys = "".join(f'"model.layers.0.{k}" = {list(range(10))}\n' for k in "abcdef")
    message = refused(BASE + VARIANTS + "[sweep]\n" + keys, write_scenario)
    assert "2 variant(s) x 1,000,000 combination(s) = 2,000,000 trials; at most 1,000" in message
    repeats = BASE + "[run]\nrepeats = 100\n[sweep]\nfit.batch_size = [8, 16, 32, 64, 128, 256]\n"
    message = refused(repeats + "fit.epochs = [1, 2]\n", write_scenario)
    assert "makes 1,200 trials with their repeats; at most 1,000" in message


def test_string_values_cannot_inject_names_markup_or_paths(write_scenario):
    hostile = ["../../etc", "a/b", "[red]x[/]", "\x1b]0;pwned\x07", "..", "ok"]
    values = ", ".join(json.dumps(v) for v in hostile)
    scenario = load_scenario(write_scenario(BASE + f"[sweep]\n'compile.loss' = [{values}]\n"))
    names = list(scenario.variants)
    assert len(names) == len(set(names)) == 6
    for name in names:
        assert SWEEP_NAME.fullmatch(name), name
        assert "/" not in name and not has_control(name) and "[red]" not in name
        folder = trial_folder_name(name)
        assert "/" not in folder and not folder.startswith(".") and folder not in (".", "..")
        assert trial_folder_name(folder) == folder
    assert names[-1] == "default[loss=ok]"
    folders = {trial_folder_name(f"{n}.r{k}").lower() for n in names for k in (1, 2)}
    assert len(folders) == 12  # unique, even on a case-insensitive disk


PATHS = [
    "fit.batch_size",
    "fit.epochs",
    "compile.optimizer.learning_rate",
    "compile.optimizer",
    "compile.loss",
    "model.layers.0.units",
    "model.layers.9.units",
    "model.batchnorm.momentum",
    "data.validation_split",
    "run.repeats",
    "scenario.seed",
    "fit.nope",
]
SCALARS = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["../x", "a/b", "[red]x[/]", "\x1b]0;t\x07", "..", "Adam", "adam"]),
)


def _toml(value: object) -> str:
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


LAWS = st.builds(
    lambda name, bounds: {name: bounds},
    st.sampled_from(["uniform", "log_uniform", "int_uniform", "choice", "normal"]),
    st.lists(SCALARS, max_size=3),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    keys=st.dictionaries(
        st.sampled_from(PATHS), st.one_of(st.lists(SCALARS, max_size=4), LAWS), max_size=3
    ),
    method=st.sampled_from(['method = "grid"', 'method = "random"\nsamples = 3', "seed = 2", ""]),
)
def test_generated_sweeps_expand_or_fail_clearly(write_scenario, keys, method):
    table = "".join(f'"{key}" = {_toml(value)}\n' for key, value in keys.items())
    try:
        scenario = load_scenario(write_scenario(BASE + VARIANTS + f"[sweep]\n{method}\n{table}"))
    except ScenarioError as exc:
        assert not has_control(str(exc))
        return
    names = list(scenario.variants)
    assert len(names) == len(set(names)) == len(scenario.sweep.trials)
    assert all(SWEEP_NAME.fullmatch(name) and not has_control(name) for name in names)
    folders = {trial_folder_name(name).lower() for name in names}
    assert len(folders) == len(names)


# -- the shell ----------------------------------------------------------------------------


def test_sweep_items_from_the_shell_become_sweep_keys():
    assert sweep_items(["fit.batch_size=16,32"]) == ["sweep.fit.batch_size=[16,32]"]
    assert sweep_items(["compile.optimizer=adam, sgd"]) == [
        'sweep.compile.optimizer=["adam", "sgd"]'
    ]
    assert sweep_items(['x={ type = "SGD", momentum = 0.9 },adam']) == [
        'sweep.x=[{ type = "SGD", momentum = 0.9 }, "adam"]'
    ]
    for bad in ("fit.batch_size", "fit.batch_size=", "fit/../x=1", "=1,2"):
        with pytest.raises(UsageError):
            sweep_items([bad])


def test_sweep_on_the_shell_validates_and_runs_like_the_table(write_scenario, tmp_path):
    path = write_scenario(BASE + VARIANTS)
    result = invoke(
        "validate", str(path), "--sweep", "fit.batch_size=16,32", "--sweep", "fit.epochs=1,2"
    )
    assert result.exit_code == 0, result.output
    assert "8 variant(s): a grid sweep of batch, epochs over adam, sgd" in result.output
    result = invoke("summary", str(path), "--sweep", "model.layers.0.units=4", "-v", "adam")
    assert result.exit_code == 0 and "variant adam[units=4]" in result.output
    assert "Total params: 310" in result.output  # 64 x 4 + 4, 4 x 10 + 10
    result = invoke("validate", str(path), "--sweep", "fit.batch_size")
    assert result.exit_code == 2 and "expects KEY=V1,V2" in result.output
    result = invoke("validate", str(path), "--sweep", "fit.batchsize=1,2")
    assert result.exit_code == 2 and "did you mean 'batch_size'?" in result.output


def test_shipped_sweep_scenario_validates():
    root = Path(__file__).resolve().parent.parent
    scenario = load_scenario(root / "scenarios" / "digits_sweep.toml")
    assert scenario.sweep is not None and len(scenario.variants) == 4
    assert scenario.sweep.short == ("lr", "batch")


# -- results ------------------------------------------------------------------------------


def _book(results: dict[str, tuple[float, float]]) -> ResultsBook:
    """A book of finished trials: name -> (best val_accuracy, test accuracy)."""
    book = ResultsBook()
    for name, (val, test) in results.items():
        book.handle(VariantStarted(name, name, 1, 1, 1, 1, 32, {}, {}, {}, 0.01, "", 1, 1, False))
        book.handle(EpochEnded(name, 1, {"val_accuracy": val, "val_loss": 1 - val}, 0.01, 1.0))
        book.handle(VariantFinished(name, name, "finished", 1, {"accuracy": test}, 1.0, 0.01))
    return book


def test_the_best_trial_is_chosen_by_validation_never_by_test():
    sweep = SweepInfo(
        "grid",
        ("fit.batch_size",),
        ("batch",),
        {
            "d[batch=16]": SweepPoint("d", (16,), ("16",)),
            "d[batch=32]": SweepPoint("d", (32,), ("32",)),
        },
    )
    book = _book({"d[batch=16]": (0.90, 0.50), "d[batch=32]": (0.80, 0.99)})
    rows = sweep_rows(sweep, book)
    assert [r.trial for r in rows if r.best] == ["d[batch=16]"]
    assert best_trial(rows, "val_loss") == "d[batch=16]"
    with pytest.raises(UsageError, match="never by test"):
        best_trial(rows, "test_accuracy")
    assert best_trial([SweepRow("x", "x", (1,), ("1",))]) is None


def test_the_chart_draws_numbers_on_a_log_axis_and_words_by_position():
    sweep = SweepInfo(
        "grid",
        ("compile.optimizer.learning_rate", "compile.optimizer"),
        ("lr", "optimizer"),
        {
            f"d[lr={lr},optimizer={o}]": SweepPoint("d", (lr, o), (str(lr), o))
            for lr in (0.001, 0.01, 0.1)
            for o in ("adam", "sgd")
        },
    )
    book = _book({name: (0.5, 0.5) for name in sweep.trials})
    rows = sweep_rows(sweep, book)
    text = sweep_chart_text(sweep, rows, 0, "val_accuracy", (60, 14), False)
    assert "(log scale)" in text and "0.001" in text and "optimizer=sgd" in text
    text = sweep_chart_text(sweep, rows, 1, "val_accuracy", (60, 14), False)
    assert "log" not in text and "adam" in text and "lr=0.01" in text


def test_a_stored_sweep_record_is_checked():
    good = SweepInfo(
        "grid", ("fit.epochs",), ("epochs",), {"d[epochs=1]": SweepPoint("d", (1,), ("1",))}
    )
    assert SweepInfo.from_document(json.loads(json.dumps(good.to_document()))) == good
    for bad in (
        {**good.to_document(), "method": "bayes"},
        {**good.to_document(), "short": ["a", "b"]},
        {**good.to_document(), "trials": {"x": {"variant": "d", "values": [], "labels": []}}},
        [],
    ):
        with pytest.raises(ValueError):
            SweepInfo.from_document(bad)


# -- a real sweep on digits ---------------------------------------------------------------


@pytest.fixture(scope="module")
def stored_sweep(tmp_path_factory) -> Path:
    """A 2 x 2 grid, 2 epochs of a tiny MLP on digits, trained headless and stored."""
    root = tmp_path_factory.mktemp("sweep")
    path = root / "grid.toml"
    path.write_text(BASE + GRID, encoding="utf-8")
    runs = root / "runs"
    result = invoke("run", str(path), "--headless", "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output
    assert "Sweep (grid): lr, batch" in result.output  # the footer's sweep table
    return next((runs / "grid").iterdir())


def test_a_real_grid_sweep_stores_its_trials_and_its_record(stored_sweep):
    resolved = json.loads((stored_sweep / "resolved.json").read_text())
    names = [f"default[lr={lr},batch={b}]" for lr in ("0.01", "0.1") for b in (32, 64)]
    assert list(resolved["variants"]) == names
    assert resolved["sweep"]["keys"] == ["compile.optimizer.learning_rate", "fit.batch_size"]
    assert resolved["sweep"]["trials"][names[3]]["values"] == [0.1, 64]
    folders = sorted(p.name for p in (stored_sweep / "variants").iterdir())
    assert folders == sorted(trial_folder_name(n) for n in names)
    run = RunFolder(stored_sweep)
    assert all(run.history_csv(name).is_file() and run.model_file(name).is_file() for name in names)
    again = scenario_from_resolved(resolved, stored_sweep / "resolved.json")  # tuilab resume
    assert list(again.variants) == names and again.sweep.short == ("lr", "batch")


def test_the_sweep_table_names_the_best_by_validation_accuracy(stored_sweep):
    run = f"{stored_sweep.parent.name}/{stored_sweep.name}"
    result = invoke("sweep", run, "--runs-dir", str(stored_sweep.parent.parent))
    assert result.exit_code == 0, result.output
    trials = json.loads((stored_sweep / "results.json").read_text())["trials"]
    top = max(t["best"]["val_accuracy"] for t in trials.values())
    best = re.search(r"\* best by val_acc: (\S+) ([0-9.]+)", result.output)
    assert best, result.output
    assert trials[best.group(1)]["best"]["val_accuracy"] == top
    assert best.group(2) == f"{top:.4g}"
    assert "never used to choose" in result.output
    assert "val_acc by lr (log scale)" in result.output


def test_the_sweep_command_at_80_columns_cuts_no_number(stored_sweep):
    root, run = stored_sweep.parent.parent, f"grid/{stored_sweep.name}"
    for args in (("sweep", run), ("sweep", run, "--sort", "batch", "--by", "batch"), ("show", run)):
        result = invoke(*args, "--runs-dir", str(root))
        assert result.exit_code == 0, result.output
        tables = result.output.split("val_acc by")[0]
        assert "…" not in tables
        boxes = [line for line in tables.splitlines() if line[:1] in "┏┃┡│└"]
        assert boxes and max(len(line) for line in boxes) <= 80
        trials = json.loads((stored_sweep / "results.json").read_text())["trials"]
        for trial in trials.values():
            assert f"{trial['best']['val_accuracy']:.4g}" in tables
            assert f"{trial['test']['accuracy']:.4g}" in tables
        assert "too narrow for:" in tables


def test_the_sweep_command_refuses_test_metrics_unknown_columns_and_plain_runs(stored_sweep):
    root, run = str(stored_sweep.parent.parent), f"grid/{stored_sweep.name}"
    for args, expected in (
        (("--metric", "test_accuracy"), "never by test"),
        (("--sort", "nope"), "no such column"),
        (("--by", "nope"), "not a swept key"),
    ):
        result = invoke("sweep", run, "--runs-dir", root, *args)
        assert result.exit_code == 2 and expected in result.output
    result = invoke("sweep", run, "--runs-dir", root, "--metric", "val_loss", "--sort", "lr")
    assert result.exit_code == 0 and "best by val_loss" in result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert [row.split("│")[2].strip() for row in rows] == ["0.01", "0.01", "0.1", "0.1"]
    plain = RunFolder(stored_sweep)
    document = json.loads(plain.resolved_json.read_text())
    document.pop("sweep")
    copy = stored_sweep.parent / "plain"
    copy.mkdir()
    for name in ("run.json", "events.jsonl", "results.json"):
        (copy / name).write_bytes((stored_sweep / name).read_bytes())
    (copy / "resolved.json").write_text(json.dumps(document))
    result = invoke("sweep", "grid/plain", "--runs-dir", root)
    assert result.exit_code == 2 and "is not a sweep" in result.output
    (copy / "resolved.json").write_text(json.dumps({**document, "sweep": {"method": "x"}}))
    result = invoke("sweep", "grid/plain", "--runs-dir", root)
    assert result.exit_code == 2 and "resolved.json: sweep.method" in result.output
    result = invoke("show", "grid/plain", "--runs-dir", root)
    assert result.exit_code == 0 and "is corrupt" in result.output and "Results" in result.output


async def test_the_app_shows_a_stored_sweep_as_its_table_and_its_chart(stored_sweep):
    from textual.widgets import Static

    from tuilab.app.app import create_app
    from tuilab.app.widgets.results import ResultsTable

    root = stored_sweep.parent.parent
    trials = json.loads((stored_sweep / "results.json").read_text())["trials"]
    top = max(trials, key=lambda name: trials[name]["best"]["val_accuracy"])
    app = create_app(root, root, stored_run=stored_sweep)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(4):
            await pilot.press("n")
        await pilot.pause(0.3)
        table = app.screen.query_one(ResultsTable)
        keys = [str(k.value) for k in table.columns]
        assert keys[:3] == ["best", "lr", "batch"] and "val_accuracy" in keys
        shown = {}
        for index, row in enumerate(table.rows_shown):
            assert table.cell_text(index, "val_accuracy") == f"{row.stat('val_accuracy').mean:.4g}"
            shown[row.trial] = table.cell_text(index, "best")
        assert shown[top] == "*" and sorted(shown.values()) == ["", "", "", "*"]
        assert table.rows_shown[0].trial == top  # sorted by the best validation accuracy
        for index, row in enumerate(table.rows_shown):  # each row's values are its trial's
            lr, batch = table.cell_text(index, "lr"), table.cell_text(index, "batch")
            assert row.trial == f"default[lr={lr},batch={batch}]"
            assert trials[row.trial]["best"]["val_accuracy"] == row.stat("val_accuracy").mean
        note = str(app.screen.query_one("#results-note", Static).render())
        assert f"best by val_acc: {top}" in note and "never used to choose" in note
        await pilot.press("y")
        await pilot.pause(0.3)
        chart = str(app.screen.query_one("#sweep-chart", Static).render())
        assert not table.display and "val_acc by lr (log scale)" in chart
        await pilot.press("y")
        await pilot.pause(0.2)
        assert table.display
