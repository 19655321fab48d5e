"""The optimizer playground: the curve, each variant's path animated step by step."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual_plotext import PlotextPlot

from tuilab.descent.chart import COLORS, draw_descent
from tuilab.descent.run import DescentPath
from tuilab.presentation.numbers import format_value
from tuilab.presentation.text import plain
from tuilab.scenario.descent import DescentConfig
from tuilab.scenario.loader import Scenario

FRAMES = 40
FRAME_S = 0.05


def setting_cells(config: DescentConfig) -> dict[str, str]:
    """The table's cells of what a key changes: learning rate, iterations, start."""
    return {
        "lr": format_value(config.learning_rate),
        "Iter": str(config.iterations),
        "Start": ", ".join(format_value(v) for v in config.start_point),
    }


class PathsReady(Message):
    """The worker computed every variant's path."""

    def __init__(self, paths: dict[str, DescentPath], generation: int) -> None:
        super().__init__()
        self.paths = paths
        self.generation = generation


class PlaygroundScreen(Screen):
    """Change the selected variant's learning rate, iterations or start; it replays at once."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("plus,equals_sign", "scale_lr(2.0)", "lr ×2", id="playground.lr_up"),
        Binding("minus", "scale_lr(0.5)", "lr ÷2", id="playground.lr_down"),
        Binding("right_square_bracket", "scale_iterations(2.0)", "iter ×2", id="playground.it_up"),
        Binding("left_square_bracket", "scale_iterations(0.5)", "iter ÷2", id="playground.it_down"),
        Binding("right", "move_start(0.1)", "start +0.1", id="playground.start_up", priority=True),
        Binding(
            "left", "move_start(-0.1)", "start −0.1", id="playground.start_down", priority=True
        ),
        Binding("space", "replay", "Replay", id="playground.replay"),
        Binding("escape", "app.pop_screen", "Back", id="playground.back"),
    ]
    """Keys act on the variant highlighted in the table."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__()
        self.scenario = scenario
        self.configs: dict[str, DescentConfig] = {
            name: variant.descent for name, variant in scenario.variants.items()
        }
        self.paths: dict[str, DescentPath] = {}
        self.frame = FRAMES
        self.generation = 0
        self.paths_generation = 0
        self.sub_title = scenario.name

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield PlotextPlot(id="descent-plot")
            with Horizontal(id="descent-bottom"):
                yield DataTable(id="descent-table", cursor_type="row")
                yield Static(id="descent-settings")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in ("Variant", "lr", "Iter", "Start", "Final x", "J(x)", "Conv."):
            table.add_column(column, key=column)
        for name in self.configs:
            table.add_row(name, "", "", "", "", "", "", key=name)
        table.focus()
        self.set_interval(FRAME_S, self._next_frame)
        self.recompute()

    @property
    def selected(self) -> str:
        """The highlighted variant."""
        table = self.query_one(DataTable)
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def recompute(self, only: str | None = None) -> None:
        """Compute the paths again in a worker thread (TensorFlow stays off the UI thread):
        every variant's, or `only` the one whose setting changed (the others are unchanged)."""
        self.generation += 1
        configs = {only: self.configs[only]} if only and self.paths else dict(self.configs)
        self._compute(configs, self.generation)

    @work(thread=True, exclusive=True, group="descent")
    def _compute(self, configs: dict[str, DescentConfig], generation: int) -> None:
        from tuilab.descent.run import run_descent

        self.post_message(PathsReady({n: run_descent(c) for n, c in configs.items()}, generation))

    @on(PathsReady)
    def _paths_ready(self, message: PathsReady) -> None:
        if message.generation != self.generation:
            return  # a newer setting is being computed
        self.paths = {**self.paths, **message.paths}
        self.paths_generation = message.generation
        self._fill_table()
        self.action_replay()

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        for name, path in self.paths.items():
            config = self.configs[name]
            converged = (
                f"div@{path.diverged_at}"
                if path.diverged_at
                else (str(path.converged_at) if path.converged_at else "no")
            )
            values = {
                **setting_cells(config),
                "Final x": ", ".join(f"{v:.4f}" for v in path.final),
                "J(x)": f"{path.values[-1]:.4f}",
                "Conv.": converged,
            }
            for column, value in values.items():
                table.update_cell(name, column, value, update_width=True)
        self._show_settings()

    def _show_settings(self) -> None:
        config = self.configs[self.selected]
        self.query_one("#descent-settings", Static).update(
            plain(
                f"{self.selected}\noptimizer {config.optimizer}\nlr {config.learning_rate:g}\n"
                f"iterations {config.iterations}\nstart {config.start_point}",
                multiline=True,
            )
        )

    def _next_frame(self) -> None:
        """One animation frame: every path drawn up to the same fraction of its steps."""
        if self.frame >= FRAMES or not self.paths:
            return
        self.frame += 1
        longest = max(len(p.points) - 1 for p in self.paths.values())
        upto = max(1, round(longest * self.frame / FRAMES))
        self._draw(upto)

    def _draw(self, upto: int | None) -> None:
        plot = self.query_one(PlotextPlot)
        colors = {n: COLORS[i % len(COLORS)] for i, n in enumerate(self.configs)}
        draw_descent(plot.plt, self.configs, self.paths, upto, colors)
        plot.refresh()

    def action_replay(self) -> None:
        """Animate the paths from the start."""
        self.frame = 0

    def _change(self, **values: object) -> None:
        name = self.selected
        try:
            self.configs[name] = DescentConfig.model_validate(
                {**self.configs[name].model_dump(), **values}
            )
        except ValueError as exc:
            self.notify(str(exc).splitlines()[-1], severity="warning")
            return
        for column, value in setting_cells(self.configs[name]).items():  # at once, not after
            self.query_one(DataTable).update_cell(name, column, value, update_width=True)
        self._show_settings()
        self.recompute(only=name)

    def action_scale_lr(self, factor: float) -> None:
        self._change(learning_rate=self.configs[self.selected].learning_rate * factor)

    def action_scale_iterations(self, factor: float) -> None:
        iterations = max(1, round(self.configs[self.selected].iterations * factor))
        self._change(iterations=iterations)

    def action_move_start(self, step: float) -> None:
        start = list(self.configs[self.selected].start_point)
        start[0] = round(start[0] + step, 6)
        self._change(start=start[0] if len(start) == 1 else start)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        if self.paths:
            self._show_settings()
