"""The dashboard's view keys: tabs, metric, curve options, hide/show, BN layer, results sort.

None of them touches training: each changes what is shown, marks the parts it affects dirty
and redraws (a hidden tab draws when it is shown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widget import Widget
from textual.widgets import TabbedContent

from tuilab.app.widgets.batchnorm import BatchNormView
from tuilab.app.widgets.curves import CurvesPlot
from tuilab.app.widgets.results import ResultsTable
from tuilab.app.widgets.results_pane import ResultsPane
from tuilab.presentation.charts import next_smoothing

if TYPE_CHECKING:
    from tuilab.app.run_state import RunState

TABS = ("curves", "layers", "batchnorm", "events", "results")


class ViewActions:
    """Mixed into the dashboard screen, which provides the attributes annotated here and
    `_redraw` (draws the dirty parts that are shown)."""

    state: RunState
    hidden: set[str]
    _dirty: set[str]
    _selected: str | None

    def action_next_tab(self) -> None:
        self._switch_tab(1)

    def action_previous_tab(self) -> None:
        self._switch_tab(-1)

    def _switch_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = TABS[(TABS.index(tabs.active) + step) % len(TABS)]

    def action_page(self, step: int) -> None:
        """PgDn/PgUp from the sidebar: a page of the open tab's scrolling table or log (the
        BatchNorm channels, the layers, the events), as when the tab itself has the focus."""
        pane = self.query_one(TabbedContent).active_pane
        if pane is None:
            return
        scrollers = [w for w in pane.query(Widget) if w.max_scroll_y > 0 and w.display]
        if scrollers:
            target = scrollers[0]
            (target.scroll_page_down if step > 0 else target.scroll_page_up)(animate=False)

    def action_next_metric(self) -> None:
        metric = self.query_one(CurvesPlot).next_metric(self.state)
        self.notify(f"metric: {metric}", timeout=1.5)
        self._dirty.add("curves")
        self._redraw()

    def _toggle_option(self, name: str) -> None:
        options = self.query_one(CurvesPlot).options
        setattr(options, name, not getattr(options, name))
        self._dirty.add("curves")
        self._redraw()

    def action_toggle_train(self) -> None:
        self._toggle_option("train")

    def action_toggle_validation(self) -> None:
        self._toggle_option("validation")

    def action_toggle_log(self) -> None:
        self._toggle_option("log_scale")

    def action_smooth(self) -> None:
        """Cycle the curves' smoothing: off, 0.6, 0.8, 0.95 (raw values faint behind)."""
        options = self.query_one(CurvesPlot).options
        options.smoothing = next_smoothing(options.smoothing)
        self.notify(f"smoothing: {options.smoothing:g}" if options.smoothing else "smoothing off")
        self._dirty.add("curves")
        self._redraw()

    def action_toggle_visible(self) -> None:
        trial = self._selected
        if trial:
            self.hidden ^= {trial}
            self._dirty |= {"curves", "variants"}
            self._redraw()

    def action_bn_layer(self, step: int) -> None:
        view = self.query_one(BatchNormView)
        history = self.state.batchnorm.get(self._selected or "", [])
        view.cycle(step, list(history[0][1]) if history else [])
        self._dirty.add("batchnorm")
        self._redraw()

    def action_sort_results(self) -> None:
        column = self.query_one(ResultsTable).cycle_sort(self.state)
        self.notify(f"sorted by {column}", timeout=1.5)
        self._dirty.add("results")
        self._redraw()

    def action_sweep_chart(self) -> None:
        """A sweep's Results: switch between its table and its chart."""
        if not self.query_one(ResultsPane).toggle_chart(self.state):
            self.notify("this run is no sweep: it has no sweep chart", timeout=2)
