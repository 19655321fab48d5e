"""Reports and exports are inert: hostile text in every field of a stored run that reaches a
report (scenario, trial and variant names, tags, note, layer, metric and class names, reasons,
the device, scenario keys) renders as that text and nothing else: no HTML, entity, link or image
in the Markdown report, no spreadsheet formula in the CSV report. And `report -o` / `plot -o`
write only a regular file in a regular folder, whole or not at all.

The Markdown is rendered by markdown-it (CommonMark with raw HTML allowed, and GFM tables), as a
Git forge or an editor's preview would, and the HTML it gives is checked tag by tag.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import secrets
import shutil
import stat
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.headless.report import csv_report, markdown_report
from tuilab.headless.report_markup import md_text
from tuilab.headless.report_md import FigureFiles
from tuilab.presentation import output_files
from tuilab.presentation.text import clean, has_control
from tuilab.runtime.csv_cells import safe_cell, safe_row, safe_writer
from tuilab.runtime.events import ClassificationReport, EarlyStopped
from tuilab.runtime.layer_events import LayerStats
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.user_text import TAG_PATTERN

STORED_RUN = ROOT / "tests" / "fixtures" / "runs" / "quick" / "20260101-120000"
RUN = "quick/20260101-120000"

HTML_AND_MARKDOWN = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<a href='javascript:alert(1)'>click</a>",
    "<!-- comment",
    "<https://evil.example>",
    "&lt;script&gt; &amp; &#60;b&#62; &copy;",
    "[click](javascript:alert(1))",
    "![pixel](https://evil.example/track.png)",
    "[ref]: https://evil.example",
    "[text][ref]",
    "`code` ``x`` ```",
    "**bold** _em_ ~~gone~~ $x^2$",
    "| a | b |",
    "a \\| b \\",
    "# heading",
    "- item",
    "1. item",
    "1) item",
    "> quote",
    "---",
    "===",
    "    indented",
    "line\nbreak\r\nand\ttab",
    "trailing  ",
    "\x1b]8;;https://evil.example\x07link\x1b]8;;\x07",
    "\u202eevil-bidi",
]
FORMULAS = [
    '=HYPERLINK("https://evil.example","click")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
    "＝1+1",
    "'=already quoted",
]
hostile = st.one_of(
    st.sampled_from(HTML_AND_MARKDOWN + FORMULAS),
    st.builds(
        lambda a, b: a + b,
        st.sampled_from(HTML_AND_MARKDOWN + FORMULAS),
        st.text(st.characters(blacklist_categories=["Cs"], max_codepoint=0x2FFF), max_size=12),
    ),
    st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], max_codepoint=0x2FFF),
        min_size=1,
        max_size=40,
    ),
)


# -- a stored run with hostile text in every field --------------------------------------------
def hostile_run(root: Path, text: dict[str, str]) -> Path:
    """The fixture run, with `text[field]` in each field a copied store controls."""
    first = text["trial"]
    second = text["variant"] if text["variant"] != first else text["variant"] + "2"
    names = {"plain": first, "bn": second}
    folder = root / "quick" / "20260101-120000"
    shutil.copytree(STORED_RUN, folder)
    meta = json.loads((folder / "run.json").read_text())
    meta.update(scenario=text["scenario"], variants=[first, second])
    (folder / "run.json").write_text(json.dumps(meta))
    layer, metric = text["layer"], text["metric"]
    lines = []
    for line in (folder / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        kind = event["event"]
        if "scenario" in event:
            event["scenario"] = text["scenario"]
        if kind == "run_started":
            event["device"]["device"] = text["device"]
            event["variants"] = event["trials"] = [first, second]
        if event.get("trial") in names:
            event["trial"] = names[event["trial"]]
            if "variant" in event:
                event["variant"] = event["trial"]
        if kind == "learning_rate_changed":
            event["reason"] = text["reason"]
        if kind in ("batchnorm_snapshot", "variant_started") and event.get("trial") == second:
            key = "layers" if kind == "batchnorm_snapshot" else "batchnorm"
            found = list(event.get(key, {}).items())  # the first BatchNorm layer renamed
            event[key] = {layer if i == 0 else k: v for i, (k, v) in enumerate(found)}
        if kind == "epoch_ended":
            event["logs"][metric] = event["logs"][f"val_{metric}"] = 0.5
        if kind == "variant_finished" and event["trial"] == first:
            event["test"][metric] = -0.25
            lines += [
                ClassificationReport(
                    first,
                    [text["class"], "b"],
                    [[3, 1], [0, 4]],
                    [1.0, 0.8],
                    [0.75, 1.0],
                    [0.86, 0.89],
                    [4, 4],
                    accuracy=0.875,
                    confused_pairs=[{"true": 0, "predicted": 1, "count": 1}],
                ).to_json(),
                *(
                    LayerStats(
                        first,
                        epoch,
                        {layer: {"weight_norm": 1.0 + epoch, "gradient_norm": 0.5, "weights": 9}},
                    ).to_json()
                    for epoch in (0, 1)
                ),
                EarlyStopped(first, 4, 2, metric, 0.5).to_json(),
            ]
        lines.append(json.dumps(event))
    lines.append(
        json.dumps(
            {
                "event": "variant_failed",
                "trial": second,
                "variant": second,
                "reason": text["reason"],
                "epoch": 1,
            }
        )
    )
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    resolved = json.loads((folder / "resolved.json").read_text())
    variants = resolved["variants"]
    resolved["variants"] = {first: variants["plain"], second: variants["bn"]}
    resolved["variants"][first]["extra"] = {text["key"]: text["value"]}
    (folder / "resolved.json").write_text(json.dumps(resolved))
    (folder / "tags.txt").write_text(text["tag"] + "\n", encoding="utf-8")
    (folder / "note.md").write_text(text["note"], encoding="utf-8")
    return folder


FIELDS = (
    "scenario",
    "trial",
    "variant",
    "tag",
    "note",
    "layer",
    "metric",
    "class",
    "reason",
    "device",
    "key",
    "value",
)
hostile_fields = st.fixed_dictionaries({name: hostile for name in FIELDS})
FIXED = dict.fromkeys(FIELDS, "<script>alert(1)</script>")


def shown(value: str) -> str:
    """What a reader must see of `value`: cleaned, whitespace runs as one space."""
    return " ".join(clean(value).split())


# -- rendering the Markdown --------------------------------------------------------------------
RENDERER = MarkdownIt("commonmark", {"html": True}).enable("table")
ALLOWED_TAGS = {
    "h1",
    "h2",
    "h3",
    "p",
    "ul",
    "li",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "pre",
    "code",
    "img",
    "strong",
}
REPORT_H2 = {
    "Note",
    "Results (per trial, ranked by best validation accuracy)",
    "Scenario keys that differ between variants",
    "Curves",
    "Learning-rate changes and early stops",
    "BatchNormalization statistics (initial and after the last epoch)",
    "Where the classifier goes wrong (test split)",
    "Inside the model: weight and gradient norms per layer",
    "The data: training samples after preprocessing",
}


class Page(HTMLParser):
    """Every element of rendered HTML with its attributes, the text, and each h2's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.headings: dict[str, list[str]] = {}
        self._heading: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in ("h1", "h2", "h3"):
            self._heading = tag
            self.headings.setdefault(tag, []).append("")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._heading:
            self._heading = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._heading:
            self.headings[self._heading][-1] += data

    def handle_comment(self, data: str) -> None:
        self.elements.append(("!--", {}))

    def handle_decl(self, decl: str) -> None:
        self.elements.append(("!decl", {}))

    def unknown_decl(self, data: str) -> None:
        self.elements.append(("!decl", {}))

    def handle_pi(self, data: str) -> None:
        self.elements.append(("?pi", {}))


def render(markdown: str) -> Page:
    page = Page()
    page.feed(RENDERER.render(markdown))
    page.close()
    return page


def assert_inert(markdown: str, images: dict[str, str] | None = None) -> str:
    """The rendered report has only the report's own elements: no tag, attribute, link or image
    but its own (`images`: file -> alt text). Returns its text, whitespace runs as one."""
    assert not has_control(markdown)
    page = render(markdown)
    for tag, attributes in page.elements:
        assert tag in ALLOWED_TAGS, (tag, attributes, markdown)
        if tag == "img":
            assert set(attributes) == {"src", "alt"}, attributes
            assert images is not None and attributes["src"] in images, attributes
            alt = attributes["alt"] or ""
            assert " ".join(alt.split()) == " ".join(images[attributes["src"]].split())
        else:
            assert not attributes, (tag, attributes)
    assert page.headings.get("h1", [""])[0] and len(page.headings["h1"]) == 1
    assert set(page.headings.get("h2", [])) <= REPORT_H2, page.headings["h2"]
    return " ".join("".join(page.text).split())


# -- the property: every field, Markdown and CSV ----------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=hostile_fields)
@example(text=FIXED)
@example(text={**FIXED, "note": "=1+1", "trial": "-2+3", "tag": "ok-tag", "reason": "@SUM(A1)"})
@example(text=dict.fromkeys(FIELDS, "[x](javascript:alert(1)) &amp; ![i](y.png) | `c`"))
def test_every_field_of_a_hostile_run_is_inert_in_markdown_and_csv(tmp_path_factory, text):
    root = tmp_path_factory.mktemp("runs")
    folder = RunFolder(hostile_run(root, text))
    first = text["trial"]
    second = text["variant"] if text["variant"] != first else text["variant"] + "2"

    # Markdown, as `tuilab report` prints it
    result = CliRunner().invoke(app, ["report", "latest", "--runs-dir", str(root)])
    assert result.exit_code == 0, result.output
    seen = assert_inert(result.stdout)
    for value in (text["scenario"], first, second, text["layer"], text["class"], text["reason"]):
        assert shown(value) in seen, value
    for value in (text["device"], text["key"], text["value"]):
        assert shown(value) in seen, value
    assert " ".join(f"early stop, best {shown(text['metric'])}".split()) in seen
    assert " ".join(clean(text["note"].strip(), multiline=True).split()) in seen
    tag = text["tag"].strip()
    if TAG_PATTERN.fullmatch(tag):
        assert f"tags: {tag}" in seen
    elif tag:
        assert "is not a tag" in seen  # reported as a problem, the tag escaped in it

    # Markdown with figure files linked (their alt texts hold trial and data names)
    figures = FigureFiles(
        curves={"accuracy": "r-accuracy.png"},
        confusion={first: "r-confusion.png"},
        layers={first: "r-layers.png"},
        samples=[(text["value"], "r-samples.png")],
        samples_note=[text["reason"]],
    )
    alts = {
        "r-accuracy.png": "accuracy per epoch",
        "r-confusion.png": clean(f"confusion matrix of {first}", limit=200),
        "r-layers.png": clean(
            f"gradient norm of each layer of {first} per epoch, log scale", limit=200
        ),
        "r-samples.png": clean(
            f"training samples of {text['value']} after preprocessing", limit=200
        ),
    }
    seen = assert_inert(markdown_report(folder, figures), alts)
    assert shown(text["reason"]) in seen

    # CSV: no cell a formula, every text as stored (less the quote that marks it as text)
    rows = list(csv.reader(io.StringIO(csv_report(folder))))
    header, body = rows[0], rows[1:]
    for row in rows:
        for cell in row:
            assert not spreadsheet_formula(cell), (cell, row)
    column = {name: i for i, name in enumerate(header)}
    assert f"test_{clean(text['metric'])}" in column  # one cell, no control character
    by_trial = {row[column["trial"]]: row for row in body}
    assert set(by_trial) == {as_text(clean(first)), as_text(clean(second))}
    for row in body:
        assert row[column["note"]] == as_text(clean(text["note"].strip()))
    assert by_trial[as_text(clean(second))][column["reason"]] == as_text(clean(text["reason"]))


def spreadsheet_formula(cell: str) -> bool:
    """What Excel, LibreOffice or Sheets would evaluate (this test's own reading of OWASP)."""
    if not cell:
        return False
    with contextlib.suppress(ValueError):
        if cell == cell.strip() and "_" not in cell:
            float(cell)
            return False  # a number
    triggers = "=+-@\t\r＝＋－＠"
    return cell[0] in triggers or (cell.lstrip(" ")[:1] or "a") in triggers


def as_text(stored: str) -> str:
    """The cell a stored text must become: `'` before it when a spreadsheet would evaluate it."""
    return "'" + stored if spreadsheet_formula(stored) else stored


# -- the escape functions themselves ----------------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(text=hostile)
def test_md_text_renders_as_the_text_in_every_place_a_report_puts_it(text):
    escaped = md_text(text)
    assert "\n" not in escaped and "<" not in escaped and ">" not in escaped
    assert not re.search(r"&(?!amp;|lt;|gt;|#32;)", escaped)
    for markdown in (
        f"# {escaped}",
        f"### {escaped}",
        escaped,
        f"- {escaped}",
        f"- first\n- {escaped}",
        f"| a | b |\n|---|---|\n| {escaped} | {escaped} |",
        f"![{escaped}](f.png)",
    ):
        page = render(markdown)
        tags = [tag for tag, _ in page.elements]
        allowed = {"h1", "h3", "p", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "img"}
        assert set(tags) <= allowed, (markdown, tags)
        assert tags.count("li") <= 2 and tags.count("td") <= 2, (markdown, tags)
        if markdown.startswith("!"):
            alts = [" ".join((a.get("alt") or "").split()) for t, a in page.elements if t == "img"]
            assert alts == [shown(text)], markdown
        else:
            assert shown(text) in " ".join("".join(page.text).split()), markdown


NUMBERS = ["-0.5", "1e-3", "1e-05", "-inf", "inf", "nan", "-1", "+2", "0", "-1.5E+20", ".5"]


@pytest.mark.parametrize("number", NUMBERS)
def test_safe_cell_leaves_a_number_alone(number):
    assert safe_cell(number) == number
    assert safe_cell(float(number)) == repr(float(number))


@pytest.mark.parametrize("formula", FORMULAS[:-1])
def test_safe_cell_quotes_a_formula(formula):
    assert safe_cell(formula) == "'" + formula
    assert not spreadsheet_formula(safe_cell(formula))


@settings(max_examples=500, deadline=None)
@given(
    value=st.one_of(
        hostile,
        st.floats(),
        st.integers(),
        st.none(),
        st.booleans(),
        st.floats().map(repr),
        st.builds(lambda c, t: c + t, st.sampled_from("=+-@\t\r ＝'"), hostile),
    )
)
def test_safe_cell_is_never_a_formula_keeps_the_text_and_is_idempotent(value):
    cell = safe_cell(value)
    assert not spreadsheet_formula(cell)
    text = "" if value is None else repr(value) if isinstance(value, float) else str(value)
    assert cell in (text, "'" + text)
    assert safe_cell(cell) == cell  # a file read back and written again gains no quote
    buffer = io.StringIO()
    safe_writer(buffer).writerow([value, "x"])
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == [cell, "x"]
    assert safe_row([value]) == [cell]


# -- where reports and figures are written ----------------------------------------------------
def invoke(*args: str):
    return CliRunner().invoke(app, [*args, "--runs-dir", str(STORED_RUN.parent.parent)])


def dev_files() -> set[str]:
    return set(os.listdir("/dev")) if os.path.isdir("/dev") else set()


@contextlib.contextmanager
def no_new_files_in_dev():
    """Fails when a command creates a file in /dev (and removes what it created)."""
    before = dev_files()
    try:
        yield
    finally:
        created = dev_files() - before
        for name in created:  # only what the command under test made: never a device
            path = Path("/dev") / name
            if stat.S_ISREG(path.lstat().st_mode):
                path.unlink()
    assert not created, f"created in /dev: {sorted(created)}"


DEVICES = [d for d in ("/dev/full", "/dev/null") if os.path.exists(d)]
COMMANDS = [
    ("report", RUN),
    ("report", RUN, "--format", "csv"),
    ("report", RUN, "--format", "html"),
]


@pytest.mark.skipif(not DEVICES, reason="no /dev/full or /dev/null")
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("command", COMMANDS, ids=["md", "csv", "html"])
def test_a_report_into_a_device_is_refused_and_writes_nothing(device, command):
    with no_new_files_in_dev():
        result = invoke(*command, "-o", device)
    assert result.exit_code == 2, result.output
    assert "character device, not a regular file" in result.output
    assert "leave out -o to print the report" in result.output
    assert "Traceback" not in result.output and "wrote" not in result.output


@pytest.mark.skipif(not DEVICES, reason="no /dev/full or /dev/null")
@pytest.mark.parametrize("device", DEVICES)
def test_a_plot_into_a_device_is_refused(device, tmp_path):
    link = tmp_path / "curves.png"
    link.symlink_to(device)  # the suffix is right; the file a link names must be regular too
    with no_new_files_in_dev():
        result = invoke("plot", RUN, "-o", str(link))
    assert result.exit_code == 2 and "character device, not a regular file" in result.output
    assert link.is_symlink()


@pytest.mark.skipif(not os.path.exists("/dev/stdout"), reason="no /dev/stdout")
@pytest.mark.parametrize("stream", ["/dev/stdout", "/dev/stderr"])
def test_a_standard_stream_is_refused_whatever_it_names(stream):
    """Under pytest's capture it names a regular temporary file: written through, the report's
    figures would go beside the link, into /dev (in a terminal it is a character device)."""
    with no_new_files_in_dev():
        result = invoke("report", RUN, "-o", stream)
    assert result.exit_code == 2, result.output
    assert "device" in result.output and "leave out -o to print the report" in result.output


@pytest.mark.skipif(not os.path.isdir("/dev"), reason="no /dev")
@pytest.mark.parametrize("command", [("plot", RUN), ("report", RUN)], ids=["plot", "report"])
def test_a_new_file_in_the_device_folder_is_refused(command):
    suffix = ".png" if command[0] == "plot" else ".md"
    name = f"/dev/tuilab-test-{secrets.token_hex(4)}{suffix}"
    with no_new_files_in_dev():
        result = invoke(*command, "-o", name)
    assert result.exit_code == 2, result.output
    assert "is the device folder (/dev)" in result.output
    assert not os.path.lexists(name)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
@pytest.mark.parametrize("command", [("plot", RUN), ("report", RUN)], ids=["plot", "report"])
def test_a_fifo_is_refused_and_never_opened(tmp_path, command):
    fifo = tmp_path / ("out.png" if command[0] == "plot" else "out.md")
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a blocking writer would not hang
    try:
        result = invoke(*command, "-o", str(fifo))
        with contextlib.suppress(BlockingIOError):
            assert os.read(reader, 1) == b"", "the report went into the FIFO"
    finally:
        os.close(reader)
    assert result.exit_code == 2 and "FIFO (named pipe), not a regular file" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [fifo.name]


@pytest.mark.parametrize("command", [("plot", RUN), ("report", RUN)], ids=["plot", "report"])
def test_an_output_in_something_that_is_no_folder_is_refused(tmp_path, command):
    afile = tmp_path / "file"
    afile.write_text("x")
    name = "c.png" if command[0] == "plot" else "r.md"
    result = invoke(*command, "-o", str(afile / name))
    assert result.exit_code == 2 and f"{afile} is not a folder" in result.output
    folder = invoke(*command, "-o", str(tmp_path))
    assert folder.exit_code == 2 and "is a folder: give a file name" in folder.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_figure_name_taken_by_a_folder_leaves_nothing_new(tmp_path):
    (tmp_path / "report-loss.png").mkdir()  # the second curve figure cannot be written
    result = invoke("report", RUN, "-o", str(tmp_path / "report.md"))
    assert result.exit_code == 2 and "report-loss.png is a folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report-loss.png"]


def full_disk(fail_on: str):
    """`atomic_file`, with the disk full (ENOSPC) half-way through writing a file whose name
    ends with `fail_on`."""
    real = output_files.atomic_file

    @contextlib.contextmanager
    def atomic_file(path: Path, **options):
        with real(path, **options) as stream:
            if not path.name.endswith(fail_on):
                yield stream
                return

            class Full(io.RawIOBase):
                def write(self, data):
                    stream.write(bytes(data)[: len(data) // 2])
                    stream.flush()
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

                def fileno(self):
                    return stream.fileno()

            yield Full()

    return atomic_file


@pytest.mark.parametrize("fail_on", ["report.md", "report-loss.png"])
def test_a_full_disk_leaves_the_old_report_and_no_half_or_new_file(tmp_path, monkeypatch, fail_on):
    report = tmp_path / "report.md"
    report.write_text("the old report\n")
    monkeypatch.setattr(output_files, "atomic_file", full_disk(fail_on))
    result = invoke("report", RUN, "-o", str(report))
    assert result.exit_code == 2, result.output
    assert f"{fail_on}: No space left on device" in result.output.replace("\n", "")
    assert report.read_text() == "the old report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]  # no figure, no .tmp


def test_a_full_disk_leaves_no_half_plot(tmp_path, monkeypatch):
    monkeypatch.setattr(output_files, "atomic_file", full_disk("c.png"))
    result = invoke("plot", RUN, "-o", str(tmp_path / "c.png"))
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_report_through_a_link_writes_the_file_it_names_and_keeps_its_mode(tmp_path):
    target = tmp_path / "real" / "report.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    target.chmod(0o600)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    result = invoke("report", RUN, "--format", "csv", "-o", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and target.read_text().startswith("trial,variant")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.csv"]
