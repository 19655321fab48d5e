"""The dashboard's weights view (`w`): per-layer norms and the gradient heatmap, read back
against what the run stored in `variants/<trial>/layers.jsonl`."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT
from rich.console import Console
from rich.table import Table
from test_layer_stats import VANISHING
from textual.widgets import Static

from tuilab.app.app import create_app
from tuilab.app.run_state import RunState
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.app.widgets.layer_health import LayerHealthScreen
from tuilab.presentation.layer_health import (
    HEAT_LEVELS,
    NON_FINITE,
    gradient_heatmap,
    norm_text,
    sample_indices,
)
from tuilab.runtime.events import VariantResumed, VariantStarted
from tuilab.runtime.layer_events import LayerStats
from tuilab.runtime.session import RunRequest, execute, prepare_run

FIXTURES = ROOT / "tests" / "fixtures"
STORED_RUN = FIXTURES / "runs" / "quick" / "20260101-120000"
"""A run stored before layer statistics existed."""
EPOCHS = 2
DIGITS = f"""
[scenario]
name = "tiny digits"
seed = 3
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{{ type = "Dense", units = 16, activation = "relu" }},
          {{ type = "Dense", units = 10, activation = "softmax" }}]
batchnorm = {{ position = "after" }}
[fit]
epochs = {EPOCHS}
batch_size = 64
[variants.adam]
compile.optimizer = {{ type = "Adam", learning_rate = 0.01 }}
[variants.sgd]
compile.optimizer = {{ type = "SGD", learning_rate = 0.05 }}
"""


def train(root: Path, text: str) -> tuple[Path, Path, Path]:
    """A scenarios folder, a runs folder and the run `text` stored in it."""
    scenarios = root / "scenarios"
    scenarios.mkdir()
    path = scenarios / "scenario.toml"
    path.write_text(textwrap.dedent(text))
    runner, store = prepare_run(RunRequest(path, runs_dir=root / "runs"))
    execute(runner, store, lambda event: None)
    assert store is not None
    return scenarios, root / "runs", store.folder


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return train(tmp_path_factory.mktemp("weights"), DIGITS)


@pytest.fixture(scope="module")
def vanishing_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return train(tmp_path_factory.mktemp("vanishing"), VANISHING)


def stored_lines(folder: Path, trial: str) -> list[dict]:
    text = (folder / "variants" / trial / "layers.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def expected_gradients(folder: Path, trial: str) -> list[str]:
    """`first → last` gradient norm of every layer, as layers.jsonl holds them."""
    lines = stored_lines(folder, trial)
    first, last = lines[0]["layers"], lines[-1]["layers"]
    return [
        f"{norm_text(first[name]['gradient_norm'])} → {norm_text(last[name]['gradient_norm'])}"
        for name in first
    ]


def column_texts(table: Table, header: str) -> list[str]:
    column = next(c for c in table.columns if c.header == header)
    return [str(cell) for cell in column._cells]


def render(renderable: object, width: int) -> str:
    console = Console(width=width, color_system=None)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def title(app) -> str:
    return str(app.screen.query_one("#layer-health-title", Static).content)


async def test_w_shows_the_stored_norms_and_heatmap_and_switches_trials(digits_run):
    scenarios, runs, folder = digits_run
    app = create_app(scenarios, runs, stored_run=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        assert dashboard.state.trials == ["adam", "sgd"]
        await pilot.press("w")
        await pilot.pause(0.3)
        view = app.screen
        assert isinstance(view, LayerHealthScreen) and view.trial == "adam"
        assert title(app).startswith("Weights of adam (1/2)")
        lines = stored_lines(folder, "adam")
        layers = list(lines[0]["layers"])
        assert len(layers) == 3  # Dense, BatchNormalization, Dense
        assert view.table is not None and view.heatmap is not None
        assert column_texts(view.table, "Layer") == layers
        assert column_texts(view.table, "Grad norm") == expected_gradients(folder, "adam")
        assert column_texts(view.table, "Flags") == ["ok"] * 3
        assert view.heatmap.layers == layers
        assert view.heatmap.epochs == list(range(EPOCHS + 1))
        assert all(len(row) == EPOCHS + 1 for row in view.heatmap.levels)
        assert all(0 <= level < HEAT_LEVELS for row in view.heatmap.levels for level in row)
        every = [n["gradient_norm"] for line in lines for n in line["layers"].values()]
        legend = f"grad norm {min(every):.1e} … {max(every):.1e}, log scale"
        body = render(app.screen.query_one("#layer-health-body", Static).content, 76)
        assert legend in body and "epochs 0-2, one cell each" in body
        for name, gradient in zip(layers, expected_gradients(folder, "adam"), strict=True):
            assert name in body and gradient in body  # whole, never cut
        assert all(len(line.rstrip()) <= 76 for line in body.splitlines())
        heat_rows = [line.plain for line in view.heat_lines[: len(layers)]]
        assert [row.split()[0] for row in heat_rows] == layers

        await pilot.press("greater_than_sign")
        await pilot.pause(0.2)
        assert view.trial == "sgd" and title(app).startswith("Weights of sgd (2/2)")
        assert column_texts(view.table, "Grad norm") == expected_gradients(folder, "sgd")
        await pilot.press("less_than_sign")
        await pilot.pause(0.2)
        assert title(app).startswith("Weights of adam (1/2)")
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert app.screen is dashboard
        await pilot.press("down", "w")  # the highlighted trial
        await pilot.pause(0.3)
        assert isinstance(app.screen, LayerHealthScreen) and app.screen.trial == "sgd"
        await pilot.press("w")
        await pilot.pause(0.2)
        assert app.screen is dashboard


async def test_a_vanishing_stack_is_flagged_in_the_view_and_the_layers_tab(vanishing_run):
    scenarios, runs, folder = vanishing_run
    app = create_app(scenarios, runs, stored_run=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("n")  # the Layers tab
        await pilot.pause(0.3)
        totals = str(app.screen.query_one("#layers-totals", Static).render())
        assert "dense: vanishing" in " ".join(totals.split())
        assert "press w for weights" in " ".join(totals.split())
        await pilot.press("w")
        await pilot.pause(0.3)
        view = app.screen
        assert isinstance(view, LayerHealthScreen) and view.table is not None
        flags = column_texts(view.table, "Flags")
        assert len(flags) == 10
        assert flags[0] == "vanishing" and flags[1] == "vanishing" and flags[-1] == "ok"
        flag_cells = next(c for c in view.table.columns if c.header == "Flags")._cells
        assert flag_cells[0].style == "yellow" and flag_cells[-1].style == "green"
        assert column_texts(view.table, "Grad norm") == expected_gradients(folder, "default")
        assert view.heatmap is not None and len(view.heatmap.layers) == 10
        first, last = view.heatmap.levels[0], view.heatmap.levels[-1]
        assert max(first) < min(last)  # the first layer's gradients are far smaller


async def test_a_run_stored_before_layer_statistics_says_why_and_fills_in_live():
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs", stored_run=STORED_RUN)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        await pilot.press("w")
        await pilot.pause(0.3)
        view = app.screen
        assert isinstance(view, LayerHealthScreen) and view.trial == "plain"
        body = render(view.query_one("#layer-health-body", Static).content, 76)
        assert "stored before tuilab measured layers" in body
        assert view.table is None
        for epoch, gradient in enumerate((0.5, 0.25)):
            norms = {"weight_norm": 2.0, "gradient_norm": gradient, "weights": 10}
            dashboard.state.handle(LayerStats("plain", epoch, {"dense": norms}))
        await pilot.pause(1.3)
        assert view.table is not None
        assert column_texts(view.table, "Grad norm") == ["0.5 → 0.25"]


def norms(gradient: float | None) -> dict:
    return {"weight_norm": 1.0, "gradient_norm": gradient, "weights": 4}


def test_run_state_keeps_one_layer_stats_per_epoch_like_layer_series():
    state = RunState()
    state.handle(VariantStarted("a", "a", 1, 1, 5, 10, 32))
    assert state.layer_series("a") == []
    changed = state.handle(LayerStats("a", 0, {"d": norms(1.0)}))
    assert "layers" in changed
    state.handle(LayerStats("a", 1, {"d": norms(0.5)}))
    state.handle(LayerStats("a", 2, {"d": norms(0.4)}))
    state.handle(LayerStats("a", 1, {"d": norms(0.3)}))  # re-sent: replaces epoch 1
    series = state.layer_series("a")
    assert [(e.epoch, e.layers["d"]["gradient_norm"]) for e in series] == [
        (0, 1.0),
        (1, 0.3),
        (2, 0.4),
    ]
    state.handle(VariantResumed("a", "a", 1, 1, 5, 1, 10, 32, 0.01))  # resumed after epoch 1
    assert [e.epoch for e in state.layer_series("a")] == [0, 1]
    state.handle(LayerStats("a", 1, {"d": norms(0.3)}), session=2)  # a rerun: `a~2`
    assert [e.epoch for e in state.layer_series("a~2")] == [1]


def test_heatmap_levels_span_a_log_scale_and_mark_non_finite_cells():
    values = [1e-7, 1e-6, 1e-3, 1.0]
    series = [
        LayerStats("t", epoch, {"a": norms(value), "b": norms(1e-7 if epoch else None)})
        for epoch, value in enumerate(values)
    ]
    series.append(LayerStats("t", 4, {"a": norms(0.0)}))  # `b` not measured, `a` exactly 0
    heatmap = gradient_heatmap(series, 40)
    assert heatmap.layers == ["a", "b"] and heatmap.epochs == [0, 1, 2, 3, 4]
    assert heatmap.levels[0] == [0, 1, 4, HEAT_LEVELS - 1, 0]  # log10 -7 … 0 over 8 shades
    assert heatmap.levels[1] == [NON_FINITE, 0, 0, 0, None]
    assert (heatmap.low, heatmap.high) == (1e-7, 1.0)
    assert heatmap.legend() == (
        "grad norm 1.0e-07 … 1.0e+00, log scale; 0 drawn as the smallest; ! non-finite"
    )
    assert not heatmap.sampled and heatmap.epoch_note() == "epochs 0-4, one cell each"
    same = gradient_heatmap([LayerStats("t", 0, {"a": norms(2.0)})], 10)
    assert same.levels == [[round((HEAT_LEVELS - 1) * 0.5)]]  # one value: mid-scale
    nothing = gradient_heatmap([LayerStats("t", 0, {"a": norms(None)})], 10)
    assert nothing.levels == [[NON_FINITE]] and nothing.legend().startswith("grad norm: no finite")


def test_more_epochs_than_fit_are_sampled_evenly_keeping_first_and_last():
    assert sample_indices(5, 10) == [0, 1, 2, 3, 4]
    assert sample_indices(101, 11) == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    picked = sample_indices(1000, 7)
    assert picked[0] == 0 and picked[-1] == 999 and len(set(picked)) == 7
    assert sample_indices(30, 1) == [0, 29]  # first and last, however narrow
    series = [LayerStats("t", epoch, {"a": norms(math.exp(-epoch / 10))}) for epoch in range(200)]
    heatmap = gradient_heatmap(series, 50)
    assert len(heatmap.epochs) == 50 and heatmap.epochs[0] == 0 and heatmap.epochs[-1] == 199
    assert heatmap.sampled and heatmap.total_epochs == 200
    assert heatmap.epoch_note() == (
        "epochs 0-199: 50 of 200 shown, sampled evenly (first and last kept)"
    )
    assert heatmap.levels[0][0] == HEAT_LEVELS - 1 and heatmap.levels[0][-1] == 0
    assert heatmap.levels[0] == sorted(heatmap.levels[0], reverse=True)
