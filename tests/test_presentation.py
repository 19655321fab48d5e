"""The presentation layer alone: chart series, column fitting, text cleaning (no TensorFlow)."""

from __future__ import annotations

import plotext
from hypothesis import given
from hypothesis import strategies as st

from tuilab.presentation.charts import ChartOptions, chart_series, draw_curves
from tuilab.presentation.columns import RESULT_COLUMNS, ResultRow, Stat, fit_columns
from tuilab.presentation.text import clean, has_control
from tuilab.runtime.curves import Curve


def curve(variant: str, run: str, values: list[float]) -> Curve:
    epochs = list(range(1, len(values) + 1))
    return Curve(variant, run, epochs, {"accuracy": values, "val_accuracy": values})


def test_repeats_of_one_run_are_a_mean_and_std_band():
    curves = {
        "adam.r1": curve("adam", "runs/a/1", [0.5, 0.6]),
        "adam.r2": curve("adam", "runs/a/1", [0.7, 0.8]),
    }
    series = chart_series(curves, ChartOptions(validation=False))
    assert [s.label for s in series] == ["adam (n=2)", "", ""]
    mean, upper, lower = series
    assert mean.ys == [0.6, 0.7]
    assert [round(u - m, 6) for u, m in zip(upper.ys, mean.ys, strict=True)] == [0.1, 0.1]
    assert [round(m - lo, 6) for m, lo in zip(mean.ys, lower.ys, strict=True)] == [0.1, 0.1]


def test_same_named_trials_of_different_runs_are_never_pooled():
    curves = {
        "1:adam": curve("adam", "runs/a/1", [0.5, 0.6]),
        "2:adam": curve("adam", "runs/a/2", [0.7, 0.8, 0.9]),
    }
    series = chart_series(curves, ChartOptions(validation=False))
    assert [(s.label, s.ys) for s in series] == [
        ("1:adam", [0.5, 0.6]),
        ("2:adam", [0.7, 0.8, 0.9]),
    ]


def test_every_combination_of_hidden_splits_and_scales_draws():
    curves = {"a": curve("a", "r", [0.0, -0.5, 0.3]), "b": curve("b", "r", [0.1, 0.2, 0.4])}
    for train in (True, False):
        for validation in (True, False):
            for log in (True, False):
                for size in ((80, 20), (20, 6)):
                    plotext.clear_figure()
                    plotext.plotsize(*size)
                    options = ChartOptions(train=train, validation=validation, log_scale=log)
                    draw_curves(plotext, curves, options)
                    plotext.build()  # raised TypeError / ValueError before
                    plotext.build()  # a second render (a resize) must not re-log the data


def test_columns_are_dropped_whole_by_priority_never_cut():
    rows = [ResultRow("adam", "finished", "12", Stat(0.9612), None, Stat(0.9587), None, 12.5)]
    kept, dropped = fit_columns(RESULT_COLUMNS, rows, 60)
    keys = [c.key for c in kept]
    assert "best_val_accuracy" in keys and "test_accuracy" in keys and "trial" in keys
    assert dropped and all(c.priority > 0 for c in dropped)
    widths = [max(len(c.header), *(len(c.text(r)) for r in rows)) + 3 for c in kept]
    assert sum(widths) + 1 <= 60


@given(st.text(max_size=200))
def test_clean_leaves_no_control_character(text):
    cleaned = clean(text)
    assert not has_control(cleaned) and "\n" not in cleaned
    assert not has_control(clean(text, multiline=True))


def test_smoothing_is_tensorboards_debiased_moving_average_with_the_raw_line_behind():
    from tuilab.presentation.charts import ema, next_smoothing, smoothed_series

    assert ema([1.0, 1.0, 1.0], 0.6) == [1.0, 1.0, 1.0]  # debiased: a constant stays put
    first, second = ema([0.0, 1.0], 0.6)
    assert first == 0.0 and abs(second - 0.4 / (1 - 0.36)) < 1e-12
    assert [next_smoothing(w) for w in (0.0, 0.6, 0.8, 0.95)] == [0.6, 0.8, 0.95, 0.0]
    series = chart_series({"adam": curve("adam", "r", [0.1, 0.9, 0.1, 0.9])}, ChartOptions())
    drawn = smoothed_series(series, 0.8)
    assert [(s.label, s.marker) for s in drawn] == [
        ("", "·"),
        ("adam", "braille"),
        ("", "·"),
        ("adam val", "dot"),
    ]
    assert drawn[0].ys == [0.1, 0.9, 0.1, 0.9]  # the raw values, faint
    assert max(drawn[1].ys) - min(drawn[1].ys) < 0.8  # the smoothed line swings less
    plotext.clear_figure()
    draw_curves(plotext, {"adam": curve("adam", "r", [0.1, 0.9])}, ChartOptions(smoothing=0.6))
    assert "accuracy (smoothed 0.6)" in plotext.build()


def test_at_most_eight_variants_are_drawn_and_the_title_says_how_many_are_not():
    from tuilab.presentation.charts import MAX_DRAWN, undrawn

    curves = {f"v{i}": curve(f"v{i}", "r", [0.1 * i, 0.2]) for i in range(MAX_DRAWN + 3)}
    assert undrawn(curves, set()) == {"v8", "v9", "v10"}
    assert undrawn(curves, {"v0", "v1"}) == {"v10"}  # hiding some lets the others in
    keys = {s.key for s in chart_series(curves, ChartOptions(validation=False))}
    assert keys == {f"v{i}" for i in range(MAX_DRAWN)}
    plotext.clear_figure()
    plotext.plotsize(120, 30)
    draw_curves(plotext, curves, ChartOptions())
    assert "3 more not drawn" in plotext.build()


def test_a_comparison_shows_the_keys_that_differ_as_columns_beside_the_metrics():
    from tuilab.presentation.columns import ResultRow, Stat
    from tuilab.presentation.hparams import hparams_table, short_names

    rows = [
        ResultRow("adam", "finished", "4", Stat(0.9), None, Stat(0.8)),
        ResultRow("sgd", "finished", "4", Stat(0.7), None, Stat(0.95)),
    ]
    configs = [
        {"description": "a", "fit": {"batch_size": 32}, "compile": {"optimizer": {"lr": 0.01}}},
        {"description": "b", "fit": {"batch_size": 64}, "compile": {"optimizer": {"lr": 0.1}}},
    ]
    columns, shown = hparams_table(rows, configs)
    headers = [c.header for c in columns]
    assert headers[:3] == ["Variant", "lr", "batch_size"]  # description is prose: not a column
    cells = [[c.text(r) for c in columns[:3]] for r in shown]
    assert cells == [["adam", "0.01", "32"], ["sgd", "0.1", "64"]]
    assert "Best val acc" in headers and "Test acc" in headers
    assert short_names(["a.type", "b.type", "c.units"]) == {
        "a.type": "a.type",
        "b.type": "b.type",
        "c.units": "units",
    }
    alone, _ = hparams_table(rows[:1], configs[:1])
    assert [c.header for c in alone][1] == "Status"  # one trial: nothing differs


def test_sweep_trials_stay_apart_in_a_narrow_column():
    from tuilab.presentation.text import compact_trial

    assert compact_trial("adam", 9) == "adam"
    assert compact_trial("default[lr=0.01,batch=32]", 9) == "0.01,32"
    assert compact_trial("default[lr=0.01,batch=128]", 9) == "0.01,128"
    assert compact_trial("adam[lr=0.01,batch=32]", 14) == "adam:0.01,32"
    assert compact_trial("adam[lr=0.01,batch=32]", 9) == "a:0.01,32"
    assert compact_trial("sgd[lr=0.1].r2", 10) == "sgd:0.1.r2"
    assert "\x1b" not in compact_trial("x[k=\x1b[2J]", 4)  # cleaned like every name
