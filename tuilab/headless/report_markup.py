"""The building blocks of the reports: escaped HTML tables, lists and embedded figures, and
Markdown tables whose cells cannot break out of them.

Every text goes through `clean` (no control characters); HTML then goes through
`html.escape`, Markdown cells escape `|` and `\\`.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from tuilab.presentation.text import clean


def esc(value: object, *, multiline: bool = False) -> str:
    """Stored text as HTML: control characters shown as escapes, then `<>&"'` escaped."""
    return html.escape(clean(value, multiline=multiline), quote=True)


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: set[int] | None = None,
    *,
    row_class: Sequence[str] | None = None,
    css: str = "",
) -> str:
    """An HTML table; `numeric` columns right-aligned, `row_class` a class per row ("": none)."""
    numeric = numeric or set()
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for index, cells in enumerate(rows):
        kind = row_class[index] if row_class else ""
        opening = f'<tr class="{esc(kind)}">' if kind else "<tr>"
        body.append(
            opening
            + "".join(
                f'<td class="num">{esc(c)}</td>' if i in numeric else f"<td>{esc(c)}</td>"
                for i, c in enumerate(cells)
            )
            + "</tr>"
        )
    attribute = f' class="{esc(css)}"' if css else ""
    return f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_items(lines: Sequence[str], css: str = "") -> str:
    """An HTML bullet list of `lines`, escaped."""
    attribute = f' class="{css}"' if css else ""
    return f"<ul{attribute}>" + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>"


def html_png(data: bytes, caption: str) -> str:
    """A PNG embedded as a `data:` URL (the page loads nothing), with its caption."""
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" alt="{esc(caption)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def warn(text: str) -> str:
    """One line of HTML in the warning colour."""
    return f'<p class="warn">{esc(text)}</p>'


def md_cell(value: object) -> str:
    """A Markdown table cell: control characters shown as escapes, `|` and `\\` escaped."""
    return clean(value).replace("\\", "\\\\").replace("|", "\\|")


MD_SPECIAL = frozenset("\\`*_[]()<>#!|~")
"""What `md_text` escapes."""


def md_text(value: object) -> str:
    """Stored text as a line of Markdown: cleaned, and every character Markdown could read as
    a link, an image, emphasis, HTML or a heading escaped with `\\`."""
    return "".join(f"\\{c}" if c in MD_SPECIAL else c for c in clean(value))


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (every cell through `md_cell`)."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in cells) + " |" for cells in rows]
    return "\n".join(lines)
