"""Where the highlighted trial's classifier goes wrong, over the dashboard (the `f` key).

The confusion matrix as a heatmap of counts (green diagonal, red mistakes, deeper with the
count), the per-class precision and recall, the most confused pairs, and a gallery of the
most confident mistakes (their stored images, captioned `true→predicted 93%`). The view reads
the run's `ResultsBook.reports`, which live and stored runs fill from the same events, so a
report that arrives while the view is open is shown at once; the images come from the trial's
`mistakes.npz` in the run folder (`runtime.mistakes`), checked against the report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from textual.binding import Binding

from tuilab.app.run_state import RunState
from tuilab.app.widgets.trial_view import TrialViewScreen
from tuilab.presentation.confusion import (
    CLASS_COLUMNS,
    class_rows,
    gallery_heading,
    label_options,
    legend,
    matrix_cells,
    mistake_tiles,
    pair_rows,
    report_summary,
)
from tuilab.presentation.samples import LEGEND, gallery_grid
from tuilab.presentation.text import plain
from tuilab.runtime.events import ClassificationReport
from tuilab.runtime.mistakes import mistakes_path, read_mistakes
from tuilab.runtime.run_folder import RunFolder


def matrix_table(report: ClassificationReport, width: int) -> tuple[Table, str] | None:
    """The matrix in `width` columns (class names in rows, else indices and a legend) and the
    caption under it, or None when even indices do not fit: a count is never cut."""
    cells = matrix_cells(report)
    widest = max([len(text) for row in cells for text, _ in row], default=1)
    wide = Console(width=10_000)
    for corner, rows, headers, needs_legend in label_options(report.labels):
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), expand=False)
        table.add_column(corner, no_wrap=True)
        for header in headers:
            table.add_column(header, justify="right", no_wrap=True, min_width=widest)
        for label, row in zip(rows, cells, strict=True):
            table.add_row(plain(label), *(Text(text, style=style) for text, style in row))
        if Measurement.get(wide, wide.options, table).maximum > width:
            continue
        caption = "rows: true class, columns: predicted class"
        if needs_legend:
            caption += "\n" + legend(report.labels)
        return table, caption
    return None


def class_table(report: ClassificationReport) -> Table:
    """Support, precision, recall (the class's accuracy) and F1 per class."""
    table = Table(box=box.SIMPLE_HEAD, title="Per class", title_justify="left")
    for spec in CLASS_COLUMNS:
        if spec.fold:
            table.add_column(spec.header, overflow="fold")
        else:
            table.add_column(spec.header, justify="right", no_wrap=True)
    for row in class_rows(report):
        table.add_row(*(Text(spec.text(row)) for spec in CLASS_COLUMNS))
    table.caption = Text(report_summary(report), style="dim")
    table.caption_justify = "left"
    return table


def pairs_table(report: ClassificationReport) -> Table | None:
    """The most confused (true, predicted) pairs, None when there are no mistakes."""
    rows = pair_rows(report)
    if not rows:
        return None
    table = Table(box=box.SIMPLE_HEAD, title="Most confused", title_justify="left")
    table.add_column("True", overflow="fold")
    table.add_column("Predicted", overflow="fold")
    table.add_column("Count", justify="right", no_wrap=True)
    table.add_column("Share", justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    table.caption = Text("share: of the true class's samples", style="dim")
    table.caption_justify = "left"
    return table


def trial_run_folder(state: RunState, trial: str, runs_dir: Path | None = None) -> RunFolder | None:
    """The run folder holding `variants/<trial>/`: one of the run's folders (a rerun's
    `adam~2` is in its second), found in `runs_dir` (the store the app shows, where a copied
    run lives) before the path recorded when it trained; None when none has it."""
    name, _, session = trial.partition("~")
    recorded = [Path(d) for d in state.run_dirs]
    if session.isdigit() and 0 < int(session) <= len(recorded):
        recorded.insert(0, recorded[int(session) - 1])
    for path in recorded:
        places = [path] if runs_dir is None else [runs_dir / path.parent.name / path.name, path]
        for place in places:
            run = RunFolder(place)
            if run.trial(name).is_dir():
                return run
    return None


def gallery_parts(
    report: ClassificationReport, folder: RunFolder | None, trial: str, width: int
) -> list[RenderableType]:
    """The mistake gallery under its heading, or why it is missing (nothing when the trial
    stored no images: a run from before galleries, or no mistakes)."""
    if folder is None:
        return []
    found, problem = read_mistakes(folder, trial.partition("~")[0], report)
    if problem is not None:
        return [plain(f"no mistake gallery: {problem}", "yellow")]
    if found is None:
        return []
    return [
        plain(gallery_heading(report, len(found)), "bold"),
        plain(LEGEND, "dim"),
        gallery_grid(mistake_tiles(report, found), width),
    ]


def missing_reason(state: RunState, trial: str | None) -> str:
    """Why `trial` has no report (yet)."""
    if trial is None:
        return "no trial yet"
    result = state.book.trials.get(trial)
    status = result.status if result is not None else "running"
    if status == "running":
        return "no report yet: it comes after the trial ends (r: one now, on the test split)"
    if status == "finished":
        return "no report: only classifiers get one (not a regression, nor runs stored before it)"
    return f"no report: the trial {status}; a report comes after a trial ends"


class ConfusionScreen(TrialViewScreen):
    """One trial's confusion matrix, per-class table, most confused pairs and mistakes."""

    PREFIX = "confusion"
    HEADING = "Confusion"
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "dismiss", "Close", id="confusion.close"),
        Binding("f", "dismiss", "Close", show=False, id="confusion.close_f"),
        Binding("less_than_sign", "trial(-1)", "Prev trial", id="confusion.previous"),
        Binding("greater_than_sign", "trial(1)", "Next trial", id="confusion.next"),
        Binding("r", "report_now", "Report now", id="confusion.report_now"),
    ]

    def __init__(
        self,
        state: RunState,
        trial: str | None,
        ask: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__(state, trial)
        self.ask = ask
        """Asks the training process for a trial's report now; False when it is not training."""
        self.report: ClassificationReport | None = None
        self.matrix: Table | None = None
        """The matrix as drawn (tests read its cells)."""
        self.gallery: list[RenderableType] = []
        """The gallery as drawn, under its heading, or the reason it is missing."""

    def shown_key(self) -> object:
        report = self.state.book.reports.get(self.trial or "")
        return (self.trial, id(report), self.body_width(), self._images_stamp())

    def _folder(self) -> RunFolder | None:
        if not self.trial:
            return None
        return trial_run_folder(self.state, self.trial, getattr(self.app, "runs_dir", None))

    def _images_stamp(self) -> tuple[int, int] | None:
        """The mistake images' file as it is now (a Ray trial's arrive after its report)."""
        folder = self._folder()
        if folder is None or self.trial is None:
            return None
        try:
            info = mistakes_path(folder, self.trial.partition("~")[0]).stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def action_report_now(self) -> None:
        """`r`: the highlighted trial's confusion now, while it trains."""
        if self.trial and self.ask is not None and self.ask(self.trial):
            self.notify(f"{self.trial}: a report comes at the end of the current batch")
        else:
            self.notify("r reports a trial's confusion while it trains; this one is not training")

    def draw_body(self, width: int) -> None:
        report = self.state.book.reports.get(self.trial or "")
        self.report = report
        self.gallery = []
        body = self.body()
        if report is None:
            self.matrix = None
            body.update(plain(missing_reason(self.state, self.trial), "yellow"))
            return
        drawn = matrix_table(report, width)
        self.matrix = None if drawn is None else drawn[0]
        parts: list[RenderableType] = [plain(f"on the {report.split} split", "dim")]
        if drawn is None:
            size = len(report.labels)
            parts.append(
                plain(
                    f"the {size}×{size} matrix does not fit {width} columns: widen the terminal, "
                    "or read variants/<trial>/confusion.json",
                    "yellow",
                )
            )
        else:
            parts += [drawn[0], plain(drawn[1], "dim", multiline=True), Text()]
        parts.append(class_table(report))
        pairs = pairs_table(report)
        if pairs is not None:
            parts.append(pairs)
        self.gallery = gallery_parts(report, self._folder(), self.trial or "", width)
        parts += self.gallery
        body.update(Group(*parts))
