"""One-line reasons for a failed trial, with advice for the failures users can fix."""

from __future__ import annotations

from tuilab.scenario.schema import VariantConfig


def describe_failure(exc: Exception, config: VariantConfig) -> str:
    """A one-line reason, with advice for the failures users can fix."""
    name = type(exc).__name__
    first = _meaningful_line(str(exc)).removeprefix(f"{name}: ")  # AutoGraph repeats it
    if name == "ResourceExhaustedError" or "out of memory" in first.lower():
        return (
            f"out of memory ({first}); try a smaller batch size than "
            f"{config.fit.batch_size} (--set fit.batch_size=...)"
        )
    return f"{name}: {first}"


def _meaningful_line(text: str) -> str:
    """The line of an error that says what went wrong (TensorFlow's graph errors put it last).

    `Graph execution error:` is followed by a traceback of the graph's definition and then the
    real message (`Received a label value of 10 which is outside the valid range ...`).
    AutoGraph's `in user code:` is followed by the traced lines and then, indented, the error.
    """
    lines = text.strip().splitlines()
    if not lines:
        return ""
    if lines[0].strip() == "in user code:":
        return lines[-1].strip()[:300]
    if not lines[0].startswith("Graph execution error"):
        return lines[0][:300]
    skip = ("File ", "[[", "Detected at node", "Graph execution error")
    candidates = [
        line.strip()
        for line in lines
        if line.strip() and not line[:1].isspace() and not line.strip().startswith(skip)
    ]
    return (candidates[-1] if candidates else lines[0])[:300]
