"""The variant list: status, epoch progress and the colour each trial keeps everywhere."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from tuilab.app.colors import text_color
from tuilab.app.run_state import RunState
from tuilab.runtime.describe import format_logs

STATUS_STYLE = {"finished": "green", "failed": "red", "stopped": "yellow", "running": "bold"}
STATUS_LABEL = {"finished": "done", "failed": "FAILED", "waiting": "…"}


class VariantList(DataTable):
    """One row per trial; the highlighted row selects the trial other tabs show."""

    DEFAULT_CSS = """
    VariantList { height: auto; max-height: 12; }
    """

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = False
        self.add_column("", key="dot", width=1)
        self.add_column("Variant", key="name")
        self.add_column("State", key="state")
        self.add_column("Epoch", key="epoch")

    def update_from(self, state: RunState, hidden: set[str]) -> None:
        """Add new trials and refresh every row's cells."""
        for trial in state.trials:
            color = text_color(state.color_index(trial))
            progress = state.progress.get(trial)
            status = state.status(trial)
            epoch = ""
            if progress:
                fraction = progress.batch / progress.steps if progress.steps else 0
                epoch = f"{progress.epoch}/{progress.epochs}"
                if status == "running" and 0 < fraction < 1:
                    epoch += f" {fraction:.0%}"
            cells = {
                "dot": Text("·" if trial in hidden else "●", style=color),
                "name": Text(trial, style=color),
                "state": Text(STATUS_LABEL.get(status, status), style=STATUS_STYLE.get(status, "")),
                "epoch": epoch,
            }
            if trial not in self.rows:
                self.add_row(*cells.values(), key=trial)
            else:
                for column, value in cells.items():
                    self.update_cell(trial, column, value)

    @property
    def selected_trial(self) -> str | None:
        """The highlighted trial, if any."""
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)


def progress_line(state: RunState, trial: str | None) -> str:
    """`batch 12/36 · loss 0.31 acc 0.9` for the selected trial."""
    if not trial or trial not in state.progress:
        return ""
    progress = state.progress[trial]
    return f"{trial}: batch {progress.batch}/{progress.steps} · {format_logs(progress.logs)}"
