"""Live loss/accuracy/learning-rate curves with textual-plotext."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from tuilab.app.colors import plot_color
from tuilab.app.run_state import RunState
from tuilab.presentation.charts import ChartOptions, draw_curves


class CurvesPlot(PlotextPlot):
    """One metric for every visible trial, train and validation, with event markers."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.options = ChartOptions()

    def draw(self, state: RunState, hidden: set[str]) -> None:
        """Redraw from the state (call at most a few times a second)."""
        self.options.hidden = hidden
        self.options.colors = {t: plot_color(state.color_index(t)) for t in state.trials}
        draw_curves(self.plt, state.curves.curves, self.options)
        self.refresh()

    def next_metric(self, state: RunState) -> str:
        """Cycle loss -> accuracy -> ... -> learning_rate; return the new metric."""
        metrics = state.curves.metrics() or ["loss", "accuracy"]
        index = metrics.index(self.options.metric) if self.options.metric in metrics else -1
        self.options.metric = metrics[(index + 1) % len(metrics)]
        return self.options.metric
