"""The building blocks of the reports: escaped HTML tables, lists and embedded figures, and
Markdown whose stored text stays text.

Every text goes through `clean` (no control characters); HTML then goes through
`html.escape`, Markdown through `md_text` (tables: `md_table`, the note: `md_block`).
"""

from __future__ import annotations

import base64
import html
import re
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


MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
"""Written as entities by `md_text`: no HTML tag, comment, autolink or entity can form."""
MD_SPECIAL = frozenset("\\`*_[]()#!|~$")
"""Escaped with `\\` by `md_text`: links and images (`[`, `]`, `!`, `(`), code spans, emphasis,
strike-through and math, headings, table cells (`|`), and the escape itself."""
_BLOCK_MARK = re.compile(r"[-+=]+(?=\s|$)|\d{1,9}\.(?=\s|$)")
"""A list item (`- `, `+ `, `1. `), a setext underline or a thematic break, at the start."""


def md_text(value: object) -> str:
    """Stored text as Markdown that renders as exactly that text, on one line.

    The one escape of every Markdown writer (headings, table cells, list items, alt text):
    `clean` (control characters shown as escapes, newlines and tabs as spaces), then `&<>` as
    entities and Markdown's specials (`MD_SPECIAL`) with `\\`, so no HTML, entity, link, image,
    code span or table cell boundary forms. At the start, a space is written `&#32;` (four would
    open a code block) and a list or rule marker is escaped."""
    text = clean(value)
    escaped = "".join(MD_ENTITIES.get(c) or (f"\\{c}" if c in MD_SPECIAL else c) for c in text)
    if escaped.startswith(" "):
        return "&#32;" + escaped[1:]
    found = _BLOCK_MARK.match(escaped)  # (`1)` is `1\\)` by now)
    if found is None:
        return escaped
    cut = 0 if found.group()[0] in "-+=" else found.end() - 1  # the first `-`, or the `.`
    return escaped[:cut] + "\\" + escaped[cut:]


def md_block(value: object) -> list[str]:
    """Stored multi-line text (a note) as an indented code block's lines: shown exactly as
    written, never read as Markdown or HTML (every renderer escapes a code block; no line can
    end it, each is indented). Put a blank line before it."""
    text = clean(value, multiline=True).expandtabs(4)
    return [f"    {line}".rstrip() for line in text.splitlines()]


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table, every cell through `md_text` (a `|` in a name cannot split a cell)."""
    lines = ["| " + " | ".join(md_text(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_text(c) for c in cells) + " |" for cells in rows]
    return "\n".join(lines)
