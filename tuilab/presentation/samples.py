"""Terminal pictures of a dataset: sample grids (half-block pixels or ASCII) and its tables.

Samples are drawn *after* preprocessing on a fixed scale, so a wrong normalisation shows:
values in 0..1 are grey levels, values above 1 turn red, values below 0 turn blue (ASCII:
`!` above 1, `~` below 0). Colour images (CIFAR-10) clip each channel to 0..1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tuilab.data.inspect import DataView, Sample, SplitView, ValueStats
from tuilab.presentation.text import plain

RAMP = " .:-=+*#%@"
"""ASCII shades from 0 (blank) to 1 (`@`)."""
MIN_COLUMNS = 6
"""Narrowest tile before the grid wraps its classes onto more rows."""
MAX_COLUMNS = 16
LEGEND = "grey 0..1, red >1, blue <0"
ASCII_LEGEND = "' ' 0 to '@' 1, '!' >1, '~' <0"


def grid_layout(width: int, tiles: int, native: int) -> tuple[int, int]:
    """(tiles per row, columns per tile) so that rows of tiles fit `width` columns.

    All tiles on one row when each can be at least `MIN_COLUMNS` (or `native`) wide, else
    half as many per row, and so on; a tile is never wider than twice the image.
    """
    per_row = max(tiles, 1)
    smallest = min(native, MIN_COLUMNS)
    while per_row > 1 and width // per_row - 1 < smallest:
        per_row = math.ceil(per_row / 2)
    columns = max(2, min(width // per_row - 1, 2 * native, MAX_COLUMNS))
    return per_row, columns


def resize(image: np.ndarray, columns: int, rows: int) -> np.ndarray:
    """`image` (H, W, C floats) resampled to (rows, columns, C): box average down, nearest up."""
    from PIL import Image

    width = image.shape[1]
    method = Image.Resampling.BOX if columns < width else Image.Resampling.NEAREST
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32), mode="F").resize(
                (columns, rows), method
            )
        )
        for c in range(image.shape[2])
    ]
    return np.stack(channels, axis=-1)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Preprocessed values (H, W, C) to uint8 RGB: grey 0..1, red above 1, blue below 0."""
    if image.shape[-1] == 3:
        return (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    v = image[..., 0].astype(np.float32)
    grey = np.clip(v, 0.0, 1.0) * 255
    over = np.clip(v - 1.0, 0.0, 1.0)
    under = np.clip(-v, 0.0, 1.0)
    r = np.where(v > 1, 255.0, grey)
    g = np.where(v > 1, 255.0 * (1 - over) * 0.6, np.where(v < 0, 40 * under, grey))
    b = np.where(v > 1, 255.0 * (1 - over) * 0.6, np.where(v < 0, 90 + 165 * under, grey))
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def pixel_tile(sample: Sample, columns: int) -> RenderableType:
    """One sample as half-block pixels (two pixel rows a line), `columns` wide."""
    from PIL import Image
    from rich_pixels import Pixels

    height, width = sample.image.shape[:2]
    rows = max(2, round(columns * height / width / 2) * 2)
    rgb = to_rgb(resize(sample.image, columns, rows))
    return Pixels.from_image(Image.fromarray(rgb, mode="RGB"))


def ascii_tile(sample: Sample, columns: int) -> Text:
    """One sample in ASCII shades (one character a pixel, a line per two pixel rows)."""
    height, width = sample.image.shape[:2]
    rows = max(1, round(columns * height / width / 2))
    values = resize(sample.image, columns, rows).mean(axis=-1)
    lines = []
    for row in values:
        chars = []
        for v in row:
            if v > 1.0 + 1e-6:
                chars.append("!")
            elif v < -1e-6:
                chars.append("~")
            else:
                chars.append(RAMP[min(int(v * len(RAMP)), len(RAMP) - 1)])
        lines.append("".join(chars))
    return Text("\n".join(lines), no_wrap=True)


def samples_grid(samples: tuple[Sample, ...], width: int, *, color: bool = True) -> Table:
    """A grid of labelled samples fitting `width` columns; `color=False`: ASCII shading."""
    native = samples[0].image.shape[1] if samples else 8
    labels = list(dict.fromkeys(s.label for s in samples))
    per_class = max((sum(s.label == label for s in samples) for label in labels), default=1)
    per_row, columns = grid_layout(width, len(labels), native)
    grid = Table.grid(padding=(0, 1))
    for _ in range(per_row):
        grid.add_column(width=columns, no_wrap=True)
    for start in range(0, len(labels), per_row):
        chunk = labels[start : start + per_row]
        for k in range(per_class):
            cells: list[RenderableType] = []
            for label in chunk:
                mine = [s for s in samples if s.label == label]
                if k >= len(mine):
                    cells.append("")
                    continue
                sample = mine[k]
                tile = pixel_tile(sample, columns) if color else ascii_tile(sample, columns)
                style = "bold" if color else ""
                name = Text(sample.name, style=style, no_wrap=True, overflow="ellipsis")
                cells.append(Group(tile, name))
            grid.add_row(*cells)
    return grid


GALLERY_IMAGE = (12, 14)
"""The narrowest and widest image of a gallery tile, in columns."""
GALLERY_CAPTION = 18
"""A gallery tile widens up to this for its caption; a longer caption takes more lines."""


@dataclass(frozen=True)
class CaptionedTile:
    """An image (H, W, C, preprocessed values) with a caption in parts (`"3→"`, `"8"`,
    `" 93%"`): the parts stay whole on a line when they fit, lines break between them."""

    image: np.ndarray
    caption: tuple[str, ...]


def caption_lines(parts: Sequence[str], width: int) -> list[str]:
    """The parts on as few lines of `width` as they fit, broken only between parts (a line
    does not start with a space); a part longer than `width` is folded, never cut."""
    lines: list[str] = []
    line = ""
    for part in parts:
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = part.lstrip()
        else:
            line += part
    lines.append(line)
    folded = []
    for text in lines:
        folded += [text[i : i + width] for i in range(0, max(len(text), 1), max(width, 1))]
    return folded


def gallery_layout(width: int, tiles: Sequence[CaptionedTile]) -> tuple[int, int, int]:
    """(tiles per row, columns per tile, image columns) so that rows of tiles fit `width`:
    as few rows as the images allow, the tiles shared evenly between them, each tile as wide
    as its caption up to `GALLERY_CAPTION` where the row has room."""
    native = max((t.image.shape[1] for t in tiles), default=8)
    image = min(max(native, GALLERY_IMAGE[0]), GALLERY_IMAGE[1], max(width, 2))
    longest = max((len("".join(t.caption)) for t in tiles), default=0)
    most = max(1, min(len(tiles), (width + 1) // (image + 1)))
    rows = math.ceil(len(tiles) / most) if tiles else 1
    per_row = max(1, math.ceil(len(tiles) / rows))
    cell = max(image, min(longest, GALLERY_CAPTION, (width + 1) // per_row - 1))
    return per_row, cell, image


def gallery_grid(tiles: Sequence[CaptionedTile], width: int, *, color: bool = True) -> Table:
    """Captioned images in rows that fit `width` columns (more rows when narrower), each in
    half-block pixels (`color=False`: ASCII shades) on the samples' fixed scale, its caption
    under it, whole."""
    per_row, cell, image = gallery_layout(width, tiles)
    grid = Table.grid(padding=(0, 1))
    for _ in range(per_row):
        grid.add_column(width=cell, no_wrap=True)
    for start in range(0, len(tiles), per_row):
        cells: list[RenderableType] = []
        for tile in tiles[start : start + per_row]:
            sample = Sample(0, "", tile.image)
            picture = pixel_tile(sample, image) if color else ascii_tile(sample, image)
            caption = Text("\n".join(caption_lines(tile.caption, cell)), no_wrap=True)
            if color:
                caption.stylize("bold")
            cells.append(Group(picture, caption))
        grid.add_row(*cells, *[""] * (per_row - len(cells)))
    return grid


def _number(value: float) -> str:
    return f"{value:.4g}"


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def values_table(view: DataView) -> Table:
    """Shapes, dtypes and value ranges of each split, before and after preprocessing."""
    table = Table(title="values", title_justify="left", box=None, padding=(0, 1))
    for name in ("split", "shape", "dtype", "min", "max", "mean", "std"):
        table.add_column(name, justify="left" if name in ("split", "shape", "dtype") else "right")

    def row(label: str, split: SplitView) -> None:
        v: ValueStats = split.values
        table.add_row(
            label,
            _shape(split.shape),
            split.dtype,
            *(_number(x) for x in (v.min, v.max, v.mean, v.std)),
        )

    for split in view.raw:
        row(f"{split.name} (raw)", split)
    for split in view.splits:
        row(split.name, split)
    return table


def balance_table(view: DataView) -> Table:
    """Images per class in each split, with each split's total."""
    table = Table(title="class balance", title_justify="left", box=None, padding=(0, 1))
    table.add_column("class")
    for split in view.splits:
        table.add_column(split.name, justify="right")
    for label, name in enumerate(view.classes):
        table.add_row(
            f"{label} {name}" if name != str(label) else name,
            *(str(s.counts[label]) for s in view.splits),
        )
    table.add_row(
        Text("total", style="bold"), *(Text(str(s.size), style="bold") for s in view.splits)
    )
    return table


def data_report(view: DataView, width: int, *, color: bool = True) -> list[RenderableType]:
    """Everything `tuilab data` prints for one `[data]` table, in order."""
    parts: list[RenderableType] = [
        Text.assemble(
            plain(f"dataset {view.dataset}", "bold"),
            plain(f"  image {_shape(view.image_shape)}, {len(view.classes)} classes"),
        ),
        Text.assemble(plain("preprocessing: ", "bold"), plain("; ".join(view.preprocessing))),
        values_table(view),
        balance_table(view),
    ]
    if view.samples:
        parts.append(
            plain("samples (train, after preprocessing): " + (LEGEND if color else ASCII_LEGEND))
        )
        parts.append(samples_grid(view.samples, width, color=color))
    return parts
