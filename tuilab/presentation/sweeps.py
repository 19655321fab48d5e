"""A sweep's results: a table of the swept values and the metrics, the best trial, a chart.

One row per expanded variant (mean ± std over its repeats). The best row is chosen by a
*validation* metric, highest `val_accuracy` or lowest `val_loss` (any `val_*` metric may be
asked for), never by a test metric: the test split stays a final check. Ties go to the first
row in sweep order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotext

from tuilab.errors import UsageError
from tuilab.presentation.charts import SHELL_COLORS, SHELL_THEME, Drawn, header_rows
from tuilab.presentation.columns import Column, Stat, sort_rows
from tuilab.presentation.numbers import format_value, short_metric
from tuilab.presentation.text import clean
from tuilab.runtime.results import ResultsBook
from tuilab.scenario.sweep_record import SweepInfo

MARKERS = ("o", "x", "+", "*", "#", "@", "%", "&")
"""One marker per series (readable without colours); more series are drawn as one."""


@dataclass(frozen=True)
class SweepRow:
    """One expanded variant: its values and its results (pooled over repeats)."""

    trial: str
    variant: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]
    status: str = "not run"
    epochs: str = "-"
    seconds: float = 0.0
    metrics: tuple[tuple[str, Stat], ...] = ()
    reason: str = ""
    best: bool = False

    def stat(self, name: str) -> Stat | None:
        """A pooled metric: `val_accuracy`, `val_loss` (best epoch), `test_accuracy`..."""
        return dict(self.metrics).get(name)


def check_metric(metric: str) -> str:
    """The metric that picks the best trial: a validation metric, never a test one.

    Raises:
        UsageError: not a `val_` metric.
    """
    if not metric.startswith("val_") or len(metric) > 60:
        raise UsageError(
            f"--metric {clean(metric, limit=60)!r}: the best trial is chosen by a validation "
            "metric (val_accuracy or val_loss), never by test"
        )
    return metric


def lower_is_better(metric: str) -> bool:
    """Loss-like metrics are minimised."""
    return "loss" in metric or "error" in metric


def sweep_rows(sweep: SweepInfo, book: ResultsBook, metric: str = "val_accuracy") -> list[SweepRow]:
    """A row per expanded variant in sweep order, the best one (by `metric`) marked."""
    pooled = book.variants()
    rows = []
    for trial, point in sweep.trials.items():
        entry = pooled.get(trial)
        if entry is None:
            rows.append(SweepRow(trial, point.variant, point.values, point.labels))
            continue
        results = [book.trials[t] for t in entry["trials"]]
        statuses = sorted(set(entry["statuses"]))
        metrics = [(name, _stat(e)) for name, e in entry["best"].items()]
        metrics += [(f"test_{name}", _stat(e)) for name, e in entry["test"].items()]
        rows.append(
            SweepRow(
                trial,
                point.variant,
                point.values,
                point.labels,
                "/".join(statuses) + (f" ×{len(results)}" if len(results) > 1 else ""),
                "/".join(sorted({str(r.epochs) for r in results})),
                sum(r.seconds for r in results),
                tuple(metrics),
                "; ".join(r.reason for r in results if r.reason),
            )
        )
    best = best_trial(rows, metric)
    return [SweepRow(**{**row.__dict__, "best": row.trial == best}) for row in rows]


def _stat(entry: dict[str, Any]) -> Stat:
    return Stat(entry["mean"], entry.get("std", 0.0), int(entry.get("n", 1)))


def best_trial(rows: Sequence[SweepRow], metric: str = "val_accuracy") -> str | None:
    """The trial with the best mean of a validation metric (None when no row has it)."""
    check_metric(metric)
    best: tuple[float, str] | None = None
    for row in rows:
        stat = row.stat(metric)
        if stat is None or not math.isfinite(stat.mean):
            continue
        score = -stat.mean if lower_is_better(metric) else stat.mean
        if best is None or score > best[0]:
            best = (score, row.trial)
    return best[1] if best else None


def _value_key(value: Any, label: str) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, (0, float(value)))
    return (0, (1, label))


def _metric_column(name: str, header: str, priority: int) -> Column[SweepRow]:
    def text(row: SweepRow) -> str:
        stat = row.stat(name)
        return "-" if stat is None else stat.text()

    def key(row: SweepRow) -> tuple[int, float]:
        stat = row.stat(name)
        return (1, 0.0) if stat is None else (0, stat.mean)

    descending = not lower_is_better(name)
    return Column(name, header, text, key, priority, descending=descending)


def _key_column(sweep: SweepInfo, index: int, numeric: bool) -> Column[SweepRow]:
    return Column(
        sweep.short[index],
        sweep.short[index],
        lambda r: clean(r.labels[index]),
        lambda r: _value_key(r.values[index], r.labels[index]),
        0 if index < 2 else 2,
        numeric=numeric,
    )


def sweep_columns(
    sweep: SweepInfo, rows: Sequence[SweepRow], metric: str = "val_accuracy"
) -> list[Column[SweepRow]]:
    """Best mark, variant (when several), the swept values, then the metrics and the rest."""
    columns: list[Column[SweepRow]] = [
        Column("best", " ", lambda r: "*" if r.best else "", lambda r: (0, not r.best), 0, False)
    ]
    if len({row.variant for row in rows}) > 1:
        columns.append(
            Column(
                "variant",
                "Variant",
                lambda r: clean(r.variant),
                lambda r: (0, r.variant),
                0,
                False,
                fold=True,
            )
        )
    for index in range(len(sweep.keys)):
        numeric = all(
            isinstance(row.values[index], int | float) and not isinstance(row.values[index], bool)
            for row in rows
        )
        columns.append(_key_column(sweep, index, numeric))
    standard = {"val_accuracy": "Best val acc", "val_loss": "Best val loss"}
    if metric not in standard:
        columns.append(_metric_column(metric, f"Best {short_metric(metric)}", 0))
    columns += [
        _metric_column("val_accuracy", "Best val acc", 0 if metric == "val_accuracy" else 1),
        _metric_column("test_accuracy", "Test acc", 1),
        _metric_column("val_loss", "Best val loss", 0 if metric == "val_loss" else 5),
        _metric_column("test_loss", "Test loss", 4),
        Column("status", "Status", lambda r: clean(r.status), lambda r: (0, r.status), 3, False),
        Column("epochs", "Epochs", lambda r: r.epochs, lambda r: (0, r.epochs), 6),
        Column("seconds", "Time", lambda r: f"{r.seconds:.1f}s", lambda r: (0, r.seconds), 7),
    ]
    return columns


def sort_sweep(
    rows: list[SweepRow], columns: Sequence[Column[SweepRow]], name: str
) -> list[SweepRow]:
    """Rows sorted by a column named by its key, header or short name (`lr`, `val_acc`).

    Raises:
        UsageError: no such column.
    """
    wanted = name.strip().lower().removeprefix("best_").replace(" ", "_")
    for col in columns:
        names = {col.key.lower(), col.header.lower().replace(" ", "_"), short_metric(col.key)}
        if col.key != "best" and wanted in names:
            return sort_rows(rows, col)
    valid = ", ".join(c.key for c in columns if c.key != "best")
    raise UsageError(f"--sort {clean(name, limit=60)!r}: no such column (sort by: {valid})")


def log_axis(sweep: SweepInfo, index: int, values: list[float]) -> bool:
    """A log x axis: for a `log_uniform` key, or positive values spaced more evenly in log."""
    if sweep.keys[index] in sweep.log_keys:
        return bool(values) and min(values) > 0
    distinct = sorted(set(values))
    if len(distinct) < 2 or distinct[0] <= 0 or distinct[-1] / distinct[0] < 10:
        return False
    if len(distinct) == 2:
        return True
    logs = [math.log(v) for v in distinct]
    return _unevenness(logs) <= _unevenness(distinct)


def _unevenness(points: list[float]) -> float:
    steps = [b - a for a, b in itertools.pairwise(points)]
    mean = sum(steps) / len(steps)
    return math.sqrt(sum((s - mean) ** 2 for s in steps) / len(steps)) / mean


def chart_key(sweep: SweepInfo, rows: Sequence[SweepRow], by: str | None) -> int:
    """The key to draw along x: `by` (short name or dotted key), else the first that varies.

    Raises:
        UsageError: `by` names no swept key.
    """
    if by is not None:
        index = sweep.key_index(by)
        if index is None:
            keys = ", ".join(sweep.short)
            raise UsageError(f"--by {clean(by, limit=60)!r}: not a swept key (swept: {keys})")
        return index
    for index in range(len(sweep.keys)):
        if len({row.labels[index] for row in rows}) > 1:
            return index
    return 0


def sweep_chart_text(
    sweep: SweepInfo,
    rows: Sequence[SweepRow],
    index: int,
    metric: str,
    size: tuple[int, int],
    color: bool,
) -> str:
    """`metric` against the key at `index`: a point per row (mean), ±std bars over repeats.

    Rows that share every other value (and variant) form one series; a non-numeric key is
    drawn at evenly spaced positions named by its values.
    """
    plotext.clear_figure()
    plotext.plotsize(*size)
    if not color:
        plotext.theme("clear")
    drawn = [row for row in rows if row.stat(metric) is not None]
    title = f"{short_metric(metric)} by {sweep.short[index]}"
    if not drawn:
        plotext.title(f"{title}: nothing to draw yet")
        return _built()
    legend: list[tuple[str, str | None]] = []
    xs, ticks, log = _positions(sweep, drawn, index)
    groups: dict[str, list[SweepRow]] = {}
    for row in drawn:
        others = [f"{s}={v}" for i, (s, v) in enumerate(zip(sweep.short, row.labels, strict=True))]
        del others[index]
        several = len({r.variant for r in rows}) > 1
        label = " ".join(([row.variant] if several else []) + others) or sweep.short[index]
        groups.setdefault(clean(label, limit=40), []).append(row)
    many = len(groups) > len(MARKERS)
    series = (("all trials", drawn),) if many else groups.items()
    for number, ((label, members), marker) in enumerate(zip(series, MARKERS, strict=False)):
        points = [(xs[row.trial], row.stat(metric)) for row in members]
        gx = [x for x, _ in points]
        gy = [s.mean for _, s in points if s is not None]
        hue = SHELL_COLORS[number % len(SHELL_COLORS)] if color else None
        paint = {"color": hue} if hue else {}
        if any(s is not None and s.n > 1 for _, s in points):  # bars first, points on top
            plotext.error(gx, gy, yerr=[s.std if s else 0.0 for _, s in points], **paint)
        plotext.scatter(gx, gy, marker=marker, **paint)  # the legend is drawn above the plot
        legend.append((f"{marker * 2} {label}", hue))
    plotext.xticks(*ticks)
    low, high = min(ticks[0]), max(ticks[0])
    pad = (high - low) / 12 or 0.5
    plotext.xlim(low - pad, high + pad)
    repeats = max((s.n for r in drawn if (s := r.stat(metric))), default=1)
    extra = f"; bars ±1 std over {repeats} repeats" if repeats > 1 else ""
    plotext.xlabel(sweep.short[index])
    heading = Drawn(title + (" (log scale)" if log else "") + extra, legend)
    rows = header_rows(heading, *size, SHELL_THEME if color else None)
    plotext.plotsize(size[0], size[1] - len(rows))
    return "\n".join([*rows, _built()])


def _positions(
    sweep: SweepInfo, rows: Sequence[SweepRow], index: int
) -> tuple[dict[str, float], tuple[list[float], list[str]], bool]:
    """Each row's x, the ticks (positions, labels), and whether x is log10."""
    values = [row.values[index] for row in rows]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if not numeric:
        order = list(dict.fromkeys(row.labels[index] for row in rows))
        xs = {row.trial: float(order.index(row.labels[index]) + 1) for row in rows}
        return xs, ([float(i + 1) for i in range(len(order))], order), False
    log = log_axis(sweep, index, [float(v) for v in values])
    xs = {r.trial: math.log10(v) if log else float(v) for r, v in zip(rows, values, strict=True)}
    shown = sorted({(xs[row.trial], row.labels[index]) for row in rows})
    if len(shown) > 8:
        step = math.ceil(len(shown) / 8)
        shown = shown[::step]
    return xs, ([x for x, _ in shown], [clean(label) for _, label in shown]), log


def _built() -> str:
    text = plotext.build()
    plotext.clear_figure()
    return text


def best_line(rows: Sequence[SweepRow], metric: str) -> str:
    """`* best by val_acc: adam[lr=0.01,batch=64] 0.9722`, and that trial's test accuracy."""
    best = next((row for row in rows if row.best), None)
    if best is None:
        return f"no trial has {metric} yet: no best trial"
    stat = best.stat(metric)
    test = best.stat("test_accuracy")
    its_test = f"\n  its test acc {test.text()} (never used to choose)" if test else ""
    value = stat.text() if stat else format_value(None)
    return clean(
        f"* best by {short_metric(metric)}: {best.trial} {value}{its_test}", multiline=True
    )
