"""The schemas of a run folder's JSON documents: `run.json` and the parts of `results.json` a
listing reads (layout and reading: `run_folder.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tuilab.scenario.bounds import MAX_VARIANTS


class RunMeta(BaseModel):
    """`run.json`."""

    model_config = ConfigDict(strict=True, extra="allow")
    scenario: str
    stem: str
    variants: list[str] = Field(max_length=MAX_VARIANTS)
    """The run's variants (a sweep's expanded ones), as many as a scenario may have."""
    status: Literal["running", "finished", "failed", "stopped"]
    pid: int | None = None
    host: str = ""
    started: str = ""
    finished: str | None = None
    reason: str = ""
    resumed: list[str] = []
    """When the run was resumed, each time (ISO times)."""
    resumable: bool = True
    """False once the user stopped it for good (`tuilab resume` then refuses)."""
    source: str = "scenario"
    """What trained it: `scenario` (`tuilab run`) or `script` (a user's own Keras script that
    recorded it through `tuilab.keras.TuilabCallback`: no `scenario.toml`, never resumed)."""
    script: str = ""
    """The script a `script` run was recorded from."""


class _TrialDoc(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    variant: str = ""
    status: str = "running"
    best: dict[str, float] = {}
    test: dict[str, float] = {}


class ResultsDoc(BaseModel):
    """The parts of `results.json` a listing reads."""

    model_config = ConfigDict(strict=True, extra="ignore")
    trials: dict[str, _TrialDoc] = {}


def first_error(exc: ValidationError) -> str:
    """The first problem of a failed validation, as `where: what`."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]
