"""Hostile input fed to the loader: it returns a scenario or raises a `ScenarioError`, nothing else.

Documents are generated whole (odd table names, keys, variant names and values of every TOML
type, nested), written with headers, dotted keys or inline tables, and also as raw token soup.
Every message must name the file and never print a control character raw. Odd files (a FIFO,
a device, a socket, a folder, an oversized file) are refused before anything is read.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import toml_string
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tuilab.errors import ScenarioError
from tuilab.scenario import Scenario, load_scenario
from tuilab.scenario.source import MAX_FILE_BYTES, MAX_KEY_PARTS, MAX_NESTING

SMALL = """[scenario]
seed = 7
[data]
dataset = "digits"
flatten = true
[model]
layers = [{ type = "Dense", units = 10, activation = "softmax" }]
[variants.plain]
[variants.bn_099]
[variants.bn_05]
"""
HOSTILE = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TABLES = ["scenario", "data", "model", "compile", "fit", "run", "variants", "callbacks", "descent"]
FIELDS = ["layers", "type", "epochs", "batchnorm", "position", "optimizer", "seed", "shape"]
KNOWN = [*TABLES, *FIELDS]
ODD = ["", " ", "a.b", "\x1b[31m", "\u202e", "\U0001d518", "\x00", "\n", "r2", "Fit", "x" * 300]
KEYS = st.one_of(st.sampled_from(KNOWN), st.sampled_from(ODD), st.text(max_size=12))
SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
    st.text(min_size=2000, max_size=3000, alphabet="ab\x1b\u202e\n"),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    st.dates(),
    st.times(),
    st.sampled_from(["Dense", "relu", "adam", "mnist", "digits", "after", "auto"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=24,
)
LAYERS = st.lists(
    st.dictionaries(st.sampled_from(["type", "units", "activation", "batchnorm"]), VALUES),
    max_size=3,
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario-shaped document with hostile parts: known tables, odd keys, odd values."""
    document: dict[str, Any] = {}
    if draw(st.booleans()):
        document["data"] = {"dataset": "digits", "flatten": True}
        document["model"] = {"layers": [{"type": "Dense", "units": 10}]}
    for table in draw(st.lists(st.sampled_from(TABLES), max_size=4)):
        document[table] = draw(st.dictionaries(KEYS, VALUES, max_size=4) | VALUES)
    if draw(st.booleans()):
        document.setdefault("model", {})
        if isinstance(document["model"], dict):
            document["model"]["layers"] = draw(LAYERS)
    names = st.one_of(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,8}", fullmatch=True), KEYS)
    variants = draw(st.dictionaries(names, st.dictionaries(KEYS, VALUES, max_size=3), max_size=4))
    if variants:
        document["variants"] = variants
    document.update(draw(st.dictionaries(KEYS, VALUES, max_size=2)))
    return document


def toml_key(key: str) -> str:
    """A TOML key: bare when it can be, else a basic string."""
    if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
        return key
    return toml_string(key)


def toml_value(value: Any) -> str:
    """A TOML value, inline (arrays and inline tables for containers)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    items = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
    return "{ " + items + " }" if items else "{}"


def to_toml(document: dict[str, Any], style: str) -> str:
    """Write `document` with `[table]` headers, dotted keys, or inline tables only."""
    plain = {k: v for k, v in document.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in document.items() if isinstance(v, dict)}
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in plain.items()]
    for name, table in tables.items():
        if style == "inline":
            lines.append(f"{toml_key(name)} = {toml_value(table)}")
        elif style == "dotted":
            lines.extend(
                f"{toml_key(name)}.{toml_key(k)} = {toml_value(v)}" for k, v in table.items()
            )
            if not table:
                lines.append(f"{toml_key(name)} = {{}}")
        else:
            lines.append(f"[{toml_key(name)}]")
            lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def check(path: Path, overrides: list[str] | None = None) -> Scenario | None:
    """Load `path`: a scenario, or None after checking the `ScenarioError`'s text."""
    try:
        return load_scenario(path, overrides)
    except ScenarioError as exc:
        message = str(exc)
        assert message, "an error without a message"
        for line in message.splitlines():
            assert line.startswith(str(path)), line
            assert line.isprintable(), ascii(line)
        return None


@HOSTILE
@given(document=documents(), style=st.sampled_from(["headers", "dotted", "inline"]))
def test_generated_documents_load_or_fail_clearly(tmp_path, document, style):
    path = tmp_path / "hostile.toml"
    text = to_toml(document, style)
    path.write_text(text, encoding="utf-8")
    check(path)


TOKENS = st.sampled_from(
    [
        *r"""[ ] [[ ]] { } = . , " ' # \ \u0000 1 1e999 nan true 1979-05-27 a.b.c""".split(),  # noqa: SIM905
        *["variants", "fit", "Fit", "model", "layers", "type"],
        *['"""', "'''", "\n", " ", "\x1b"],
    ]
)


@HOSTILE
@given(parts=st.lists(st.one_of(TOKENS, st.text(max_size=4)), max_size=60))
def test_token_soup_loads_or_fails_clearly(tmp_path, parts):
    path = tmp_path / "soup.toml"
    path.write_text("".join(parts), encoding="utf-8")
    check(path)


@HOSTILE
@given(
    key=st.text(max_size=30),
    value=st.text(max_size=30),
    target=st.sampled_from(["fit.epochs", "scenario.seed", "variants.a.fit", "model", "x"]),
)
def test_hostile_set_items_load_or_fail_clearly(tmp_path, key, value, target):
    path = tmp_path / "base.toml"
    path.write_text(
        '[data]\ndataset = "digits"\nflatten = true\n[model]\n'
        'layers = [{ type = "Dense", units = 10 }]\n[variants.a]\n',
        encoding="utf-8",
    )
    check(path, [f"{target}{key}={value}", f"{key}={value}"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" + ".a" * MAX_KEY_PARTS + " = 1\n", "a dotted key has more than"),
        ("[a" + ".a" * MAX_KEY_PARTS + "]\n", "a dotted key has more than"),
        ("x = { a" + ".a" * MAX_KEY_PARTS + " = 1 }\n", "a dotted key has more than"),
        ("x = " + "[" * (MAX_NESTING + 2) + "]" * (MAX_NESTING + 2) + "\n", "nested more than"),
        # tomllib's own limit depends on the recursion limit (hypothesis raises it to 3000
        # during a test session); either refusal is right
        ("x = " + "{a=" * 400 + "1" + "}" * 400 + "\n", "nested (too deeply|more than)"),
        ("x = " + "[" * 2000 + "]" * 2000 + "\n", "nested (too deeply|more than)"),
        ("x = 1" + "0" * 5000 + "\n", "a value cannot be read"),
    ],
    ids=["dotted", "header", "inline", "arrays", "inline-tables", "arrays-2000", "digits"],
)
def test_absurd_nesting_and_numbers_are_refused(tmp_path, text, expected):
    path = tmp_path / "deep.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(path)


LONG = MAX_FILE_BYTES - 100
PATHOLOGICAL = {
    "dotted-key-1mb": "a" + ".a" * (LONG // 2) + " = 1\n",
    "spaces-in-multiline-string": 'd = """\na' + " " * LONG + '\n"""\n',
    "bracket-in-multiline-string": "d = '''\n[" + " " * LONG + "\n'''\n",
    "escaped-quotes": "d = '''\n\"" + '\\"' * (LONG // 2) + "\n'''\n",
    "chains-below-the-limit": "\n".join(
        ".".join(["k" * 200] * (MAX_KEY_PARTS - 1)) + " = 1" for _ in range(70)
    ),
    "many-unknown-keys": "[fit]\n" + "".join(f"k{i} = 1\n" for i in range(80_000)),
    "many-odd-variants": "".join(f'[variants."v.{i}"]\n' for i in range(40_000)),
    "one-long-key": '[fit]\n"' + "k" * LONG + '" = 1\n',
}


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_a_hostile_megabyte_is_handled_in_seconds(tmp_path, name):
    path = tmp_path / f"{name}.toml"
    path.write_text(PATHOLOGICAL[name][:MAX_FILE_BYTES], encoding="utf-8")
    start = time.monotonic()
    check(path)
    assert time.monotonic() - start < 20, "quadratic somewhere"


def test_a_flood_of_problems_is_cut_short(tmp_path):
    path = tmp_path / "flood.toml"
    path.write_text("[fit]\n" + "".join(f"k{i} = 1\n" for i in range(500)), encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 101 and lines[-1].endswith("more problems (fix these first)")


# --- odd files: only regular files are read, and never more than MAX_FILE_BYTES + 1 bytes ---


def load_within(path: Path | str, overrides: list[str] | None = None, seconds: float = 10.0):
    """`load_scenario` in a thread: a reader that blocks fails the test instead of hanging it."""
    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["value"] = load_scenario(path, overrides)
        except BaseException as exc:  # re-raised below, in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"load_scenario({path}) blocked"
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]


def special_file(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / "x.toml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(kind)  # a device, through a link with a scenario's name
    return path


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("fifo", "is not a regular file: it is a named pipe"),
        ("socket", "is not a regular file: it is a socket"),
        ("/dev/zero", "is not a regular file: it is a character device"),
        ("/dev/null", "is not a regular file: it is a character device"),
        ("/dev/urandom", "is not a regular file: it is a character device"),
        ("folder", "is a folder, not a scenario file"),
    ],
)
def test_only_regular_files_are_read(tmp_path, kind, expected):
    path = special_file(kind, tmp_path)
    with pytest.raises(ScenarioError) as caught:
        load_within(path)
    assert str(caught.value) == f"{path}: {expected}" + (
        "" if kind == "folder" else " (give the path of a .toml scenario file)"
    )


@pytest.mark.parametrize("size", [MAX_FILE_BYTES + 1, 2 * MAX_FILE_BYTES, 50 * MAX_FILE_BYTES])
def test_files_over_the_limit_are_refused_before_reading(tmp_path, size):
    path = tmp_path / "big.toml"
    with open(path, "wb") as stream:
        stream.truncate(size)  # sparse: the size is real, the disk use is not
    with pytest.raises(ScenarioError, match=f"is {size:,} bytes; a scenario file is at most"):
        load_within(path)


def test_a_file_of_exactly_the_limit_is_read(tmp_path):
    path = tmp_path / "full.toml"
    body = SMALL.encode()
    path.write_bytes(body + b"#" * (MAX_FILE_BYTES - len(body)))
    assert list(load_within(path).variants) == ["plain", "bn_099", "bn_05"]


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + SMALL.encode())
    assert load_scenario(path).meta.seed == 7


def test_validate_a_folder_holding_special_files_reports_them(tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    os.mkfifo(folder / "pipe.toml")
    (folder / "zero.toml").symlink_to("/dev/zero")
    (folder / "sub.toml").mkdir()
    (folder / "notes.txt").write_text("not a scenario")
    from tuilab.cli import app

    outcome: dict[str, object] = {}
    thread = threading.Thread(
        target=lambda: outcome.update(r=CliRunner().invoke(app, ["validate", str(folder)])),
        daemon=True,
    )
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "validate blocked on a special file"
    result = outcome["r"]
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{folder / 'pipe.toml'}: is not a regular file: it is a named pipe" in result.output
    assert f"{folder / 'zero.toml'}: is not a regular file: it is a character device" in (
        result.output
    )
    assert f"{folder / 'sub.toml'}: is a folder" in result.output
    assert "notes.txt" not in result.output


def test_the_picker_lists_special_files_as_errors(tmp_path):
    from tuilab.app.screens.picker import scan_scenarios

    os.mkfifo(tmp_path / "pipe.toml")
    (tmp_path / "good.toml").write_text(SMALL)
    entries = {entry.path.name: entry for entry in scan_scenarios(tmp_path)}
    assert "is not a regular file" in entries["pipe.toml"].error
    assert entries["good.toml"].error == ""
