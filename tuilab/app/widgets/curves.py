"""Live loss/accuracy/learning-rate curves with textual-plotext."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from tuilab.app.colors import plot_color
from tuilab.app.run_state import RunState
from tuilab.presentation.charts import (
    ChartOptions,
    Drawn,
    draw_curves,
    draw_sized,
    header_rows,
)
from tuilab.runtime.curves import Curve


class CurveChart(PlotextPlot):
    """Curves whose title and legend sit above the plot, outside it, in the curves' colours,
    so the legend never hides a data point."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.options = ChartOptions(legend_inside=False)
        self.drawn = Drawn("")
        self._curves: dict[str, Curve] = {}

    def show_curves(self, curves: dict[str, Curve]) -> None:
        """Draw `curves` with `options` in the rows the title and legend leave."""
        self._curves = curves
        width, height = self.size.width, self.size.height
        if width and height:
            self.drawn = draw_sized(self.plt, curves, self.options, width, height)
        else:  # not laid out yet: drawn again at its first resize
            self.drawn = draw_curves(self.plt, curves, self.options)
        self.refresh()

    def on_resize(self) -> None:
        """Redraw: tick counts and an empty chart's hint follow the size."""
        self.show_curves(self._curves)

    def render(self) -> RenderResult:
        """The title and legend rows on the plot's colours, then the plot in the rows left."""
        width, height = self.size.width, self.size.height
        self.plt.theme(self._get_plotext_theme_name(self.app.theme))
        monitor = self.plt.monitor
        rows = header_rows(self.drawn, width, height, (monitor.ticks_color, monitor.axes_color))
        self.plt.plotsize(width, height - len(rows))
        self.plt._set_size(width, height - len(rows))  # as PlotextPlot.render does
        return Text.from_ansi("\n".join([*rows, self.plt.build()]))


class CurvesPlot(CurveChart):
    """One metric for every visible trial, train and validation, with event markers."""

    def draw(self, state: RunState, hidden: set[str]) -> None:
        """Redraw from the state (call at most a few times a second)."""
        self.options.hidden = hidden
        self.options.colors = {t: plot_color(state.color_index(t)) for t in state.trials}
        self.show_curves(state.curves.curves)

    def next_metric(self, state: RunState) -> str:
        """Cycle loss -> accuracy -> ... -> learning_rate; return the new metric."""
        metrics = state.curves.metrics() or ["loss", "accuracy"]
        index = metrics.index(self.options.metric) if self.options.metric in metrics else -1
        self.options.metric = metrics[(index + 1) % len(metrics)]
        return self.options.metric
