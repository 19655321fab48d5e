"""`tuilab run SCENARIO --headless`: train in a worker thread, render events on this one."""

from __future__ import annotations

import os
import queue
import signal
import threading

from rich.console import Console

from tuilab.errors import TuilabError
from tuilab.headless.render import JsonRenderer, RichRenderer
from tuilab.presentation.text import clean
from tuilab.runtime.control import RunControl
from tuilab.runtime.events import Event
from tuilab.runtime.session import RunOutcome, RunRequest, execute, prepare_run

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
STATUS_EXIT = {"finished": 0, "failed": 1, "stopped": 130}


def run_headless(request: RunRequest, console: Console, errors: Console) -> int:
    """Train and render; return the exit code (0, 1, 2, or 130/143/129 on a signal)."""
    from tuilab.scenario import load_scenario

    try:
        if request.resume is not None:
            return _train(request, console, errors)
        scenario = load_scenario(request.scenario, request.overrides).select(request.variants)
        if scenario.kind == "descent":
            from tuilab.backend import import_keras_quietly
            from tuilab.headless.descent_cmd import run_descent_headless
            from tuilab.runtime.backends import scenario_backend
            from tuilab.runtime.validation import check_scenario

            import_keras_quietly(scenario_backend(scenario))  # its gradients need Keras anyway
            check_scenario(scenario)
            return run_descent_headless(scenario, console, request.json)
    except TuilabError as exc:
        return _refused(exc, errors)
    return _train(request, console, errors)


def _refused(exc: TuilabError, errors: Console) -> int:
    errors.print(clean(str(exc), multiline=True), style="red", markup=False, soft_wrap=True)
    return exc.exit_code


def _train(request: RunRequest, console: Console, errors: Console) -> int:
    """Prepare (a new run or a resumed one), train on a worker thread, render here."""
    try:
        runner, store = prepare_run(request)
    except TuilabError as exc:
        return _refused(exc, errors)
    sweep = runner.scenario.sweep
    renderer = JsonRenderer() if request.json else RichRenderer(console, sweep=sweep)
    if request.resume is not None and isinstance(renderer, RichRenderer):
        from tuilab.runtime.stored import load_run

        renderer.preload(load_run(request.resume).events)
    events: queue.Queue[Event | None] = queue.Queue()
    control: RunControl = runner.control
    outcome: list[RunOutcome] = []

    def work() -> None:
        try:
            outcome.append(execute(runner, store, events.put))
        finally:
            events.put(None)

    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
        if len(received) > 1:  # a second signal: leave now, the store is already consistent
            if store:
                store.mark_ended("stopped", f"signal {signal.Signals(signum).name}, twice")
            os._exit(SIGNAL_EXIT.get(signum, 130))
        control.stop()
        errors.print("stopping at the end of this batch (again to quit now)", style="yellow")

    previous = {s: signal.signal(s, on_signal) for s in SIGNAL_EXIT}
    worker = threading.Thread(target=work, name="tuilab-training", daemon=True)
    try:
        worker.start()
        while True:
            event = events.get()
            if event is None:
                break
            renderer.handle(event)
        worker.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        renderer.close()
    result = outcome[0] if outcome else RunOutcome("failed", "the training thread ended early")
    if store is not None and result.status in ("stopped", "failed") and not request.json:
        errors.print(f"continue it with: tuilab resume {store.folder}", markup=False)
    if result.error:
        errors.print(result.error, style="red", markup=False, soft_wrap=True)
        return 1
    if received:
        return SIGNAL_EXIT.get(received[0], 130)
    return STATUS_EXIT.get(result.status, 1)
