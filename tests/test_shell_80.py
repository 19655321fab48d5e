"""The shell at 80 (and 120) columns on real runs: numbers, run ids and names are never split
nor cut; TensorFlow stays quiet; steering says what the run did; sweeps, reports.

Every run here is trained by `tuilab run` itself, on the embedded digits."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.presentation.describe import describe
from tuilab.runtime.events import EpochEnded, LearningRateChanged
from tuilab.runtime.stored import load_run

SCENARIOS = ROOT / "scenarios"
QUICK = SCENARIOS / "digits_quick.toml"
SWEEP = SCENARIOS / "digits_sweep.toml"
SECTIONS = ("Comparison", "Per-class recall (test)", "Scenario keys that differ", "Layer tables")


def tuilab(*args: str | Path, columns: int = 80, **env: str) -> subprocess.CompletedProcess:
    """`tuilab ARGS` in a process of its own, its output piped (not a terminal)."""
    environ = {**os.environ, "COLUMNS": str(columns), "TUILAB_OFFLINE": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "tuilab", *map(str, args)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=600,
    )


def invoke(*args: str | Path, columns: int = 80):
    return CliRunner().invoke(app, list(map(str, args)), env={"COLUMNS": str(columns)})


class Runs:
    """Three stored runs: `quick` (3 variants, 2 epochs, its headless output kept), `sweep`
    (4 trials) and `plain` (2 variants, 1 epoch), trained in that order."""

    def __init__(self, root: Path, quick: Path, quick_output: str, sweep: Path, plain: Path):
        self.root, self.quick, self.quick_output = root, quick, quick_output
        self.sweep, self.plain = sweep, plain


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("shell80") / "runs"
    keras_home = str(tmp_path_factory.mktemp("keras_home"))

    def train(scenario: Path, *extra: str) -> tuple[Path, str]:
        before = set(root.glob("*/*"))
        done = tuilab(
            "run", scenario, "--headless", "--runs-dir", root, *extra, KERAS_HOME=keras_home
        )
        assert done.returncode == 0, done.stdout + done.stderr
        (folder,) = set(root.glob("*/*")) - before
        time.sleep(1.1)  # the next run's stamp differs
        return folder, done.stdout

    quick, output = train(QUICK, "--set", "fit.epochs=2")
    sweep, _ = train(SWEEP, "--set", "fit.epochs=1")
    plain, _ = train(QUICK, "--set", "fit.epochs=1", "-v", "adam", "-v", "sgd")
    return Runs(root, quick, output, sweep, plain)


def test_headless_epoch_lines_fit_80_columns_with_every_number_whole(runs: Runs) -> None:
    lines = runs.quick_output.splitlines()
    paths = ("  stored in ", "  scenario  ")  # a path longer than the terminal is one atom
    too_long = [line for line in lines if len(line) > 80 and not line.startswith(paths)]
    assert not too_long
    joined = runs.quick_output.replace("\n    ", " ")  # a folded line's continuation
    epochs = [e for e in load_run(runs.quick).events if isinstance(e, EpochEnded)]
    assert len(epochs) == 6
    for event in epochs:  # folded only between its parts: read back whole
        assert describe(event) in joined


def _sections(output: str) -> dict[str, str]:
    """The text of each comparison table (the diff tables may be several)."""
    found: dict[str, str] = {}
    starts = [(m.start(), t) for t in SECTIONS for m in re.finditer(re.escape(t), output)]
    starts.sort()
    for index, (start, title) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(output)
        found[title] = found.get(title, "") + output[start:end]
    return found


def _tables_only(output: str) -> str:
    return output.split("\n                                    accuracy")[0]


@pytest.mark.parametrize("columns", [80, 120])
def test_compare_of_two_runs_keeps_run_ids_layer_and_key_names_whole(
    runs: Runs, columns: int
) -> None:
    result = invoke("compare", runs.quick, runs.plain, "--runs-dir", runs.root, columns=columns)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= columns
    tables = _tables_only(result.output)
    assert "…" not in tables
    labels = [f"{runs.quick.name}:{t}" for t in ("adam", "sgd", "adam_bn")]
    labels += [f"{runs.plain.name}:{t}" for t in ("adam", "sgd")]
    sections = _sections(result.output)
    assert set(sections) == set(SECTIONS)
    for title, text in sections.items():
        for label in labels:  # shown whole in each table, or named whole as dropped
            assert label in text, (title, label)
    for word in ("description", "learning_rate", "momentum", "position", "optimizer"):
        assert re.search(rf"\b{word}\b", sections["Scenario keys that differ"]), word
    assert "BatchNormalization" in sections["Layer tables"]
    assert "(None, 64)" in sections["Layer tables"]  # a shape is never split either
    comparison = sections["Comparison"]
    for trial in load_run(runs.plain).book.trials.values():
        assert f"{trial.best['val_accuracy']:.4g}" in comparison


@pytest.mark.parametrize("columns", [80, 120])
def test_compare_of_two_sweep_trials_names_each_trial_whole_in_every_column(
    runs: Runs, columns: int
) -> None:
    trials = list(load_run(runs.sweep).book.trials)
    first, last = trials[0], trials[-1]
    run = f"{runs.sweep.parent.name}/{runs.sweep.name}"
    result = invoke(
        "compare", f"{run}:{first}", f"{run}:{last}", "--runs-dir", runs.root, columns=columns
    )
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= columns
    sections = _sections(result.output)
    recall = sections["Per-class recall (test)"]
    header = next(line for line in recall.splitlines() if line.startswith("┃ Class"))
    assert first in header and last in header  # not `default` twice
    for title, text in sections.items():
        if title != "Layer tables":  # identical layer tables: one line says so
            assert first in text and last in text, title


def test_a_descent_run_and_a_table_optimizer_print_nothing_on_stderr(write_scenario) -> None:
    quiet = {"TF_CPP_MIN_LOG_LEVEL": "3"}
    descent = tuilab("run", SCENARIOS / "descent_xsin.toml", "--headless", **quiet)
    assert descent.returncode == 0, descent.stderr
    assert descent.stderr == ""
    assert max(len(line) for line in descent.stdout.splitlines()) <= 80
    for name in ("gd_lr0001", "gd_m2_1000", "momentum", "nesterov", "rmsprop"):
        assert re.search(rf"│ {name} +│", descent.stdout), name  # whole, in its cell
    scenario = write_scenario(
        QUICK.read_text().replace(
            'optimizer = "adam"', 'optimizer = { type = "Adam", learning_rate = 0.01 }'
        )
    )
    checked = tuilab("validate", scenario, **quiet)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok ") and checked.stderr == ""


LONG = """
[scenario]
name = "long"
seed = 3
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [
  { type = "Dense", units = 16, activation = "relu" },
  { type = "Dense", units = 10, activation = "softmax" },
]
[compile]
optimizer = "adam"
[fit]
epochs = 5000
batch_size = 32
[variants.a]
[variants.b]
"""


def _wait(check: Callable[[], object], process: subprocess.Popen, what: str) -> object:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        assert process.poll() is None, f"the run ended early ({process.returncode})"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _epochs(folder: Path) -> int:
    path = folder / "variants" / "a" / "history.csv"
    return max(len(path.read_text().splitlines()) - 1, 0) if path.is_file() else 0


@contextmanager
def long_run(write_scenario, tmp_path: Path) -> Iterator[tuple[Path, Path, subprocess.Popen]]:
    """A headless run of `LONG` in a process of its own, once trial `a` has two epochs:
    (runs folder, run folder, process); the process is killed if still alive at the end."""
    root = tmp_path / "runs"
    command = [sys.executable, "-m", "tuilab", "run", str(write_scenario(LONG)), "--headless"]
    with (tmp_path / "run.log").open("w") as log:  # not a pipe: epoch lines never block it
        process = subprocess.Popen([*command, "--runs-dir", str(root)], stdout=log, stderr=log)
        try:
            run_json = _wait(lambda: next(root.glob("*/*/run.json"), None), process, "the run")
            folder = Path(str(run_json)).parent
            _wait(lambda: _epochs(folder) >= 2, process, "two epochs")
            yield root, folder, process
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()


def test_lr_and_checkpoint_wait_for_the_run_and_say_what_it_did(write_scenario, tmp_path) -> None:
    with long_run(write_scenario, tmp_path) as (root, folder, process):
        scaled = invoke("lr", "latest", "--scale", "0.5", "--runs-dir", root)
        assert scaled.exit_code == 0, scaled.output
        changes = [e for e in load_run(folder).events if isinstance(e, LearningRateChanged)]
        assert changes, "lr returned before the run applied the request"
        change = changes[0]
        assert change.reason == "user" and change.new == pytest.approx(change.old / 2)
        assert (
            f"applied: a: learning rate {change.old:.3g} -> {change.new:.3g} "
            f"at epoch {change.epoch}" in scaled.output
        )

        refused = invoke("lr", "latest", "--scale", "2", "--trial", "b", "--runs-dir", root)
        assert refused.exit_code == 1, refused.output
        assert "refused: scale lr not applied: b is not training now" in refused.output

        saved = invoke("checkpoint", "latest", "--runs-dir", root)
        assert saved.exit_code == 0, saved.output
        path = re.search(r"applied: a: saved (\S+\.keras) at epoch \d+", saved.output)
        assert path and Path(path.group(1)).is_file()
        assert Path(path.group(1)).parent == folder / "variants" / "a"

        sent = invoke("checkpoint", "latest", "--no-wait", "--runs-dir", root)
        assert sent.exit_code == 0 and sent.output.startswith("sent: checkpoint to ")
        assert "applied" not in sent.output and "not read" not in sent.output
        assert invoke("stop", "latest", "--runs-dir", root).exit_code == 0
    assert process.returncode == 130


def test_stop_after_epoch_says_it_stops_after_the_epoch_and_does(write_scenario, tmp_path) -> None:
    with long_run(write_scenario, tmp_path) as (root, folder, process):
        stop = invoke("stop", "latest", "--after-epoch", "--runs-dir", root)
        assert stop.exit_code == 0, stop.output
        assert "stops once the current epoch and its validation are done" in stop.output
        assert "no further trial starts" in stop.output
        assert "end of the current batch" not in stop.output
    assert process.returncode == 130
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert [e["trial"] for e in events if e["event"] == "variant_started"] == ["a"]
    finished = next(e for e in events if e["event"] == "variant_finished")
    assert finished["status"] == "stopped" and finished["epochs"] == _epochs(folder)
    assert "accuracy" in finished["test"]  # the epoch and its validation ran to the end


def test_sweep_latest_takes_the_newest_sweep_run_past_a_newer_plain_one(runs: Runs) -> None:
    assert load_run(runs.plain).folder.info().started > load_run(runs.sweep).folder.info().started
    result = invoke("sweep", "latest", "--runs-dir", runs.root)
    assert result.exit_code == 0, result.output
    assert f"{runs.sweep.parent.name}/{runs.sweep.name}" in result.output
    plain = invoke("sweep", f"{runs.plain.parent.name}/{runs.plain.name}", "--runs-dir", runs.root)
    assert plain.exit_code == 2 and "is not a sweep" in plain.output


def test_the_markdown_report_writes_a_dash_where_the_shell_does(runs: Runs) -> None:
    run = f"{runs.quick.parent.name}/{runs.quick.name}"
    report = invoke("report", run, "--format", "md", "--runs-dir", runs.root)
    assert report.exit_code == 0, report.output
    html = MarkdownIt("commonmark").enable("table").render(report.output)
    diff = html.split("Scenario keys that differ")[1].split("</table>")[0]
    row = next(r for r in diff.split("<tr>") if "compile.optimizer.learning_rate" in r)
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert cells == ["compile.optimizer.learning_rate", "-", "0.05", "-"]  # adam, sgd, adam_bn
    assert "None" not in report.output
    shell = invoke("compare", run, "--runs-dir", runs.root, columns=120)
    line = next(x for x in shell.output.splitlines() if "compile.optimizer.learning_rate" in x)
    assert [cell.strip() for cell in line.strip("│").split("│")][1:] == ["-", "0.05", "-"]
