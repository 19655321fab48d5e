"""A grid of a scenario's data samples, loaded in a thread worker (the picker, the dashboard).

How samples are drawn is `TUILAB_GRAPHICS` (see `tuilab.app.widgets.graphics`): Sixel or Kitty
images through textual-image where the terminal has them, else rich-pixels half-blocks, which any
truecolor or 256-colour terminal shows, or ASCII shades (`NO_COLOR`). All use one colour scale.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import ModalScreen
from textual.widgets import Label, Static
from textual.worker import get_current_worker

from tuilab.app.widgets import graphics
from tuilab.data.inspect import DataView, Sample, inspect_data
from tuilab.errors import TuilabError
from tuilab.presentation.samples import (
    ASCII_LEGEND,
    LEGEND,
    balance_table,
    grid_layout,
    samples_grid,
    to_rgb,
    values_table,
)
from tuilab.presentation.text import clean, plain
from tuilab.scenario.schema import DataConfig

graphics.prepare()  # auto: ask the terminal now, while the app is not yet reading the keyboard


class SampleTile(Vertical):
    """One sample as a terminal image (Sixel or Kitty) with its class name underneath, whole."""

    DEFAULT_CSS = """
    SampleTile { height: auto; margin-right: 1; }
    SampleTile > .sample-image { height: auto; }
    SampleTile > Label { width: 100%; height: auto; text-style: bold; }
    """

    def __init__(self, sample: Sample | None, mode: graphics.Mode, columns: int) -> None:
        super().__init__()
        self.sample = sample
        self.mode = mode
        self.styles.width = columns

    def compose(self) -> ComposeResult:
        if self.sample is None:  # a class with fewer samples than the others: a blank cell
            return
        image = sample_image(self.sample, self.styles.width.cells or 8)  # type: ignore[union-attr]
        widget = graphics.image_widget(self.mode, image, classes="sample-image")
        widget.styles.width = "100%"
        yield widget
        yield Label(plain(self.sample.name))


def sample_image(sample: Sample, columns: int) -> Any:
    """`sample` on the fixed colour scale as a PIL image, enlarged by whole pixels (no blur)
    to about `columns` terminal cells' width (the terminal then scales it to the cells)."""
    from PIL import Image

    rgb = to_rgb(sample.image)
    height, width = rgb.shape[:2]
    factor = max(1, math.ceil(columns * graphics.cell_pixels()[0] / width))
    picture = Image.fromarray(rgb, mode="RGB")
    return picture.resize((width * factor, height * factor), Image.Resampling.NEAREST)


class SamplesView(Vertical):
    """One or two training samples per class after preprocessing, each labelled with its class.

    `show(config, seed, key)` loads in a thread; views are cached by `key` (a scenario path),
    so moving back over a scenario shows its samples at once. The text (tables, legend and,
    without terminal graphics, the grid) is one `Static`; Sixel or Kitty tiles go below it.
    """

    DEFAULT_CSS = """
    SamplesView {
        height: auto;
        margin-top: 1;
    }
    SamplesView > Static { height: auto; }
    SamplesView > #samples-images { height: auto; }
    SamplesView > #samples-images > Horizontal { height: auto; }
    """

    def __init__(
        self,
        *,
        mode: graphics.Mode | None = None,
        per_class: int = 1,
        tables: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.forced_mode = mode
        """The renderer, None: from `TUILAB_GRAPHICS` when mounted."""
        self.mode: graphics.Mode = mode or "halfblock"
        self.per_class = per_class
        self.tables = tables
        """Also the value ranges and class balance tables (the dashboard's data view)."""
        self.key: str | None = None
        self.view: DataView | None = None
        self.error: str = ""
        self.cache: dict[str, DataView | str] = {}
        self.text = Static(id="samples-text")
        self.images = Vertical(id="samples-images")
        self._tiled: tuple[Any, ...] | None = None

    @property
    def graphics(self) -> bool:
        """Whether samples are pictures (in colour), not ASCII shades."""
        return self.mode != "ascii"

    def compose(self) -> ComposeResult:
        yield self.text
        yield self.images

    def on_mount(self) -> None:
        self.mode = self.forced_mode or graphics.resolve(headless=self.app.is_headless)

    def update(self, content: RenderableType) -> None:
        """Show `content` as the text (the picture tiles go)."""
        self.text.update(content)
        self._tile(None)

    def show(self, config: DataConfig | None, seed: int, key: str) -> None:
        """Show the samples of `config` (None: a scenario without data, nothing shown)."""
        self.view, self.error = None, ""
        if config is None:
            self.key = None
            self.display = False
            return
        key = f"{key} {config.model_dump_json()}"  # an edited [data] table is loaded anew
        self.key = key
        self.display = True
        cached = self.cache.get(key)
        if cached is not None:
            self._loaded(key, cached)
            return
        self.update(plain("loading samples…", "dim"))
        self._load(config, seed, key)

    def clear(self) -> None:
        """Show nothing (an invalid scenario)."""
        self.show(None, 0, "")

    @work(thread=True, exclusive=True, group="samples")
    def _load(self, config: DataConfig, seed: int, key: str) -> None:
        try:
            result: DataView | str = inspect_data(
                config, seed, per_class=self.per_class, download=False
            )
        except TuilabError as exc:
            result = clean(exc, multiline=True)
        except Exception as exc:  # a reader bug must not take the picker down
            result = clean(f"{type(exc).__name__}: {exc}", multiline=True)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._loaded, key, result)

    def _loaded(self, key: str, result: DataView | str) -> None:
        self.cache[key] = result
        if key != self.key:
            return
        if isinstance(result, str):
            self.view, self.error = None, result
        else:
            self.view, self.error = result, ""
        self._draw()

    def _draw(self) -> None:
        if self.error:
            self.update(Text(f"data: {self.error}", style="red"))
            return
        if self.view is None:
            return
        width = max(self.content_size.width, self.container_size.width - 2, 20)
        view = self.view
        legend = ASCII_LEGEND if self.mode == "ascii" else LEGEND
        header = Text.assemble(
            plain(f"{view.dataset} samples", "bold"),
            plain(f": {legend}", "dim"),
        )
        parts: list[RenderableType] = []
        if self.tables:
            steps = "; ".join(view.preprocessing)
            parts += [plain(f"preprocessing: {steps}"), values_table(view), balance_table(view)]
        parts.append(header)
        if self.mode in graphics.IMAGE_MODES:
            self.text.update(Group(*parts))
            self._tile(width)
            return
        if view.samples:
            parts.append(samples_grid(view.samples, width, color=self.mode != "ascii"))
        self.update(Group(*parts))

    def _tile(self, width: int | None) -> None:
        """The samples as image tiles in rows fitting `width` (None: no tiles)."""
        view = self.view
        if width is None or view is None or not view.samples:
            if self._tiled is not None:
                self._tiled = None
                self.images.remove_children()
            return
        labels = list(dict.fromkeys(s.label for s in view.samples))
        per_row, columns = grid_layout(width, len(labels), view.samples[0].image.shape[1])
        tiled = (self.key, self.mode, per_row, columns)
        if tiled == self._tiled:
            return
        self._tiled = tiled
        by_label = {label: [s for s in view.samples if s.label == label] for label in labels}
        per_class = max(len(mine) for mine in by_label.values())
        rows = []
        for start in range(0, len(labels), per_row):
            for k in range(per_class):
                tiles = []
                for label in labels[start : start + per_row]:
                    mine = by_label[label]
                    tiles.append(SampleTile(mine[k] if k < len(mine) else None, self.mode, columns))
                rows.append(Horizontal(*tiles))
        self.images.remove_children()
        self.images.mount_all(rows)

    def labels(self) -> list[str]:
        """The class label under each sample shown (for tests and screen readers)."""
        return [] if self.view is None else [s.name for s in self.view.samples]

    def on_resize(self, event: Resize) -> None:
        self._draw()


class DataScreen(ModalScreen[None]):
    """The data of a scenario's variant over the dashboard: samples, values, class balance."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "dismiss", "Close", id="data.close"),
        Binding("d", "dismiss", "Close", show=False, id="data.close_d"),
    ]

    DEFAULT_CSS = """
    DataScreen { align: center middle; }
    DataScreen > VerticalScroll {
        width: 100%; height: 100%; border: round $accent; padding: 0 1; background: $surface;
    }
    """

    def __init__(self, scenario: Path, overrides: list[str], variant: str | None) -> None:
        super().__init__()
        self.scenario = scenario
        self.overrides = overrides
        self.variant = variant

    @classmethod
    def of_run(
        cls, request: Any, run_dirs: list[str], trial: str | None, runs_dir: Path | None = None
    ) -> DataScreen:
        """For the dashboard: its request's scenario, else the copy in the run's folder."""
        if request is not None and request.resume is None:
            path, overrides = Path(request.scenario), list(request.overrides)
        else:  # a stored, resumed or followed run: its folder as recorded, or in the store
            folder = Path(run_dirs[-1] if run_dirs else ".")
            if not folder.is_dir() and runs_dir is not None:
                folder = runs_dir / folder.parent.name / folder.name
            path, overrides = folder / "scenario.toml", []
        return cls(path, overrides, (trial or "").split("~")[0] or None)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="data-box"):
            yield Static(id="data-title")
            yield SamplesView(per_class=2, tables=True, id="data-samples")

    def on_mount(self) -> None:
        from tuilab.scenario import load_scenario

        title = self.query_one("#data-title", Static)
        samples = self.query_one(SamplesView)
        self.query_one(VerticalScroll).focus()
        try:
            scenario = load_scenario(self.scenario, self.overrides)
        except TuilabError as exc:
            title.update(Text(clean(exc, multiline=True), style="red"))
            samples.clear()
            return
        name = self.variant if self.variant in scenario.variants else next(iter(scenario.variants))
        config = getattr(scenario.variants[name], "data", None)
        title.update(
            Text.assemble(
                plain(f"Data of {scenario.name}, variant {name}", "bold"),
                plain("  (escape or d closes; arrows scroll)", "dim"),
            )
        )
        if config is None:
            title.update(plain(f"{scenario.name}: a playground, no dataset"))
        samples.show(config, scenario.meta.seed, str(self.scenario))
