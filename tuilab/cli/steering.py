"""Commands that steer a run another process trains: stop, lr, checkpoint, confusion."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuilab.cli.common import (
    RunArgument,
    RunsDirOption,
    app,
    err,
    out,
    report_error,
    runs_dir,
)
from tuilab.errors import TuilabError, UsageError
from tuilab.scenario.bounds import MAX_TRIAL_NAME

TrialOption = Annotated[
    str | None,
    typer.Option("--trial", help="Only this trial (a parallel run trains several at once)."),
]


WaitOption = Annotated[
    float,
    typer.Option(
        "--wait",
        min=0.0,
        max=600.0,
        help="Seconds to wait for the run to say whether it applied the request.",
    ),
]
NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="Send the request and return at once.")
]
DEFAULT_WAIT_S = 5.0
"""`--wait`'s default (`tuilab.headless.steer_cmds.ANSWER_WAIT_S`, without importing it)."""


def _steer(
    run: str,
    action: str,
    factor: float | None,
    runs: Path | None,
    trial: str | None,
    answer_s: float = 0.0,
    no_wait: bool = False,
) -> None:
    from tuilab.headless.steer_cmds import READ_WAIT_S, steer

    try:
        if trial is not None and not 0 < len(trial) <= MAX_TRIAL_NAME:
            raise UsageError(
                f"--trial {trial[:40]!r}: a trial name has 1 to {MAX_TRIAL_NAME:,} characters "
                f"(this one {len(trial):,})"
            )
        wait_s = 0.0 if no_wait else READ_WAIT_S
        code = steer(
            runs_dir(runs),
            run,
            action,
            factor,
            out,
            err,
            wait_s=wait_s,
            trial=trial,
            answer_s=0.0 if no_wait else answer_s,
        )
        raise typer.Exit(code)
    except TuilabError as exc:
        report_error(exc)


@app.command()
def stop(
    run: RunArgument,
    after_epoch: Annotated[
        bool, typer.Option("--after-epoch", help="Finish this epoch and its validation first.")
    ] = False,
    trial: TrialOption = None,
    runs: RunsDirOption = None,
) -> None:
    """Stop a run that another process trains (its results are kept). Exit 2: not running.

    With `--trial`, only that trial stops; the run goes on with the others.
    """
    _steer(run, "stop_after_epoch" if after_epoch else "stop", None, runs, trial)


@app.command()
def lr(
    run: RunArgument,
    scale: Annotated[
        float, typer.Option("--scale", help="Multiply the learning rate by F (0.5 halves it).")
    ],
    trial: TrialOption = None,
    wait: WaitOption = DEFAULT_WAIT_S,
    no_wait: NoWaitOption = False,
    runs: RunsDirOption = None,
) -> None:
    """Scale the learning rate of a run that another process trains, now.

    Waits (--wait seconds) for the run's answer: applied, refused, or not yet read. Exit 1:
    refused or not applied (a rate that follows a schedule); 2: not running.
    """
    _steer(run, "scale_lr", scale, runs, trial, wait, no_wait)


@app.command()
def checkpoint(
    run: RunArgument,
    trial: TrialOption = None,
    wait: WaitOption = DEFAULT_WAIT_S,
    no_wait: NoWaitOption = False,
    runs: RunsDirOption = None,
) -> None:
    """Save the model of a run that another process trains, now (beside its model.keras).

    Waits (--wait seconds) for the run's answer: saved (where), failed, refused, or not yet
    read. Exit 1: refused or failed; 2: not running.
    """
    _steer(run, "checkpoint", None, runs, trial, wait, no_wait)


@app.command()
def confusion(run: RunArgument, trial: TrialOption = None, runs: RunsDirOption = None) -> None:
    """Report where a training run's classifier goes wrong now, on the test split (tuilab show
    prints it; it is stored as the trial's confusion.json until the trial ends)."""
    _steer(run, "confusion", None, runs, trial)
