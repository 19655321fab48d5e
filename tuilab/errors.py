"""User-facing errors: each one names the file, the key and, where possible, the fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Problem:
    """One thing wrong with a user's input.

    Attributes:
        message: What is wrong, in a sentence.
        key: Dotted key path inside the file (``variants.bn_05.model.batchnorm.momentum``).
        line: 1-based line in the file, when known.
        hint: How to fix it ("did you mean 'Conv2D'?").
    """

    message: str
    key: str = ""
    line: int | None = None
    hint: str = ""

    def render(self, path: Path | str | None) -> str:
        """Format as ``file:line: key: message (hint)``."""
        where = str(path) if path else "<input>"
        if self.line:
            where += f":{self.line}"
        text = f"{where}: "
        if self.key:
            text += f"{self.key}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class TuilabError(Exception):
    """Base of every error tuilab reports to a user without a traceback."""

    exit_code = 2


@dataclass
class ScenarioError(TuilabError):
    """A scenario file is invalid; carries every problem found."""

    path: Path | str | None
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(p.render(self.path) for p in self.problems)


class DataError(TuilabError):
    """A dataset cannot be found or read."""


class RunStoreError(TuilabError):
    """The run store cannot be written or a stored run cannot be read."""


class UsageError(TuilabError):
    """A command-line value is invalid (a filter, a tag, a sort key)."""
