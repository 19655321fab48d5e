"""`tuilab run SCENARIO --headless`: train in a worker thread, render events on this one."""

from __future__ import annotations

import os
import queue
import signal
import threading
from typing import Any

from rich.console import Console

from tuilab.errors import TuilabError
from tuilab.headless.render import JsonRenderer, RichRenderer
from tuilab.runtime.control import RunControl
from tuilab.runtime.events import Event
from tuilab.runtime.session import RunRequest, prepare_run

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
STATUS_EXIT = {"finished": 0, "failed": 1, "stopped": 130}


def run_headless(request: RunRequest, console: Console, errors: Console) -> int:
    """Train and render; return the exit code (0, 1, 2, or 130/143/129 on a signal)."""
    from tuilab.scenario import load_scenario

    try:
        scenario = load_scenario(request.scenario, request.overrides).select(request.variants)
        if scenario.kind == "descent":
            from tuilab.headless.descent_cmd import run_descent_headless
            from tuilab.model.check import check_scenario

            check_scenario(scenario)
            return run_descent_headless(scenario, console, request.json)
        runner, store = prepare_run(request)
    except TuilabError as exc:
        errors.print(str(exc), style="red", markup=False, soft_wrap=True)
        return exc.exit_code
    renderer = JsonRenderer() if request.json else RichRenderer(console)
    events: queue.Queue[Event | None] = queue.Queue()
    control: RunControl = runner.control
    outcome: dict[str, Any] = {}

    def sink(event: Event) -> None:
        if store:
            store.handle(event)  # on disk before the next batch
        events.put(event)

    def work() -> None:
        try:
            outcome["status"] = runner.run()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            events.put(None)

    runner.sink = sink
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
        if len(received) > 1:  # a second signal: leave now, the store is already consistent
            if store:
                store.mark_interrupted("stopped")
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
    if "error" in outcome:
        if store:
            store.mark_interrupted("failed")
        errors.print(f"internal error: {outcome['error']!r}", style="red", markup=False)
        return 1
    if received:
        return SIGNAL_EXIT.get(received[0], 130)
    return STATUS_EXIT.get(outcome.get("status", "failed"), 1)
