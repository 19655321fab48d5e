"""Run a scenario's variants one after another in the calling thread, emitting events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tuilab.backend import (
    backend_name,
    compiler_name,
    device_description,
    import_keras,
    learning_rate_of,
    seed_everything,
)
from tuilab.data import PreparedData, load_data
from tuilab.errors import TuilabError
from tuilab.model.builder import BuildError, build_model
from tuilab.model.compile import check_metrics, make_callbacks, make_loss, make_optimizer
from tuilab.model.summary import batchnorm_state, summarize
from tuilab.runtime.control import RunControl
from tuilab.runtime.distribute import (
    check_batch_split,
    even_split,
    fit_callbacks,
    make_strategy,
    strategy_name,
    training_scope,
)
from tuilab.runtime.events import (
    Event,
    RunFinished,
    RunResumed,
    RunStarted,
    VariantResumed,
    VariantStarted,
)
from tuilab.runtime.failures import describe_failure
from tuilab.runtime.layer_stats import LayerProbe
from tuilab.runtime.multi_worker import adapt_for_cluster, in_cluster
from tuilab.runtime.reporter import make_reporter
from tuilab.runtime.resume import ResumePlan
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.speed import steps_per_epoch, steps_per_execution
from tuilab.runtime.training_state import TrialState, make_state_keeper
from tuilab.runtime.trial_end import fail_trial, finish_trial, report_confusion
from tuilab.scenario.loader import Scenario
from tuilab.scenario.schema import VariantConfig

Sink = Callable[[Event], None]
RATE_CHANGERS = ("ReduceLROnPlateau", "LearningRateScheduler")


@dataclass(frozen=True)
class Trial:
    """One training of one variant: repeats of a variant are separate trials."""

    name: str
    variant: str
    repeat: int
    seed: int
    config: VariantConfig


def plan_trials(scenario: Scenario) -> list[Trial]:
    """Variants in file order, each repeated `[run] repeats` times with seeds seed, seed+1..."""
    trials = []
    for variant, config in scenario.variants.items():
        repeats = config.run.repeats
        for repeat in range(1, repeats + 1):
            name = variant if repeats == 1 else f"{variant}.r{repeat}"
            trials.append(Trial(name, variant, repeat, scenario.meta.seed + repeat - 1, config))
    return trials


class Runner:
    """Trains every trial of a scenario and speaks only through `sink`.

    Args:
        scenario: The validated scenario (already narrowed to the chosen variants).
        sink: Receives every event, on the training thread, in order.
        control: Steering requests from other threads.
        artifacts: Where to save models and checkpoints (the run folder), or None.
        resume: What an earlier process finished (a resumed run), or None for a new run.
    """

    def __init__(
        self,
        scenario: Scenario,
        sink: Sink,
        control: RunControl | None = None,
        artifacts: Path | None = None,
        run_dir: str | None = None,
        resume: ResumePlan | None = None,
    ) -> None:
        self.scenario = scenario
        self.resume = resume
        self.sink = sink
        self.control = control or RunControl()
        self.artifacts = artifacts
        self.run_dir = run_dir
        self._data: dict[str, PreparedData] = {}

    def preload(self) -> None:
        """Load every variant's data now, so a missing dataset fails before anything is stored.

        Raises:
            DataError: a dataset cannot be found or read.
        """
        for trial in plan_trials(self.scenario):
            self._data_for(trial.config)

    def run(self) -> str:
        """Train everything; return the run status: finished, failed or stopped."""
        started = time.perf_counter()
        trials = plan_trials(self.scenario)
        done = self.resume.done if self.resume else frozenset()
        self.sink(self._opening(trials, done))
        statuses = self._train_all([t for t in trials if t.name not in done])
        import_keras().mixed_precision.set_global_policy("float32")  # leave no policy behind
        if self.control.run_stopped or "stopped" in statuses:
            status = "stopped"
        elif "failed" in statuses:
            status = "failed"
        else:
            status = "finished"
        self.sink(RunFinished(status, time.perf_counter() - started))
        return status

    def _train_all(self, trials: list[Trial]) -> list[str]:
        """Train `trials` one after another here; their statuses (`ParallelRunner` overrides)."""
        statuses = []
        for trial in trials:
            if self.control.run_stopped:
                break
            statuses.append(self.run_trial(trial))
        return statuses

    def _opening(self, trials: list[Trial], done: frozenset[str]) -> Event:
        """`RunStarted` for a new run, `RunResumed` for a resumed one."""
        now = datetime.now().isoformat(timespec="seconds")
        if self.resume is not None:
            names = [t.name for t in trials]
            return RunResumed(
                self.scenario.name,
                [n for n in names if n not in done],
                [n for n in names if n in done],
                device_description(),
                self.run_dir,
                now,
            )
        return RunStarted(
            self.scenario.name,
            str(self.scenario.path),
            list(self.scenario.variants),
            [t.name for t in trials],
            max(t.config.run.repeats for t in trials),
            device_description(),
            self.run_dir,
            now,
        )

    def _data_for(self, config: VariantConfig) -> PreparedData:
        key = json.dumps([config.data.model_dump(), config.compile.loss], sort_keys=True)
        if key not in self._data:
            self._data[key] = load_data(config.data, config.compile.loss, self.scenario.meta.seed)
        return self._data[key]

    def run_trial(self, trial: Trial) -> str:
        """Train, evaluate and save one trial; any exception fails this trial only.

        Returns:
            finished, finished_early (stopped alone, the run goes on), stopped or failed.
        """
        started = time.perf_counter()
        reporter = None
        state = self.resume.states.get(trial.name) if self.resume else None
        if state is not None:
            started -= state.seconds  # the trial's seconds count every process it trained in
        try:
            data = self._data_for(trial.config)
            model, strategy, datasets = self._prepare(trial, data, resuming=state is not None)
            keeper = self._state_keeper(trial, state)
            reporter = self._start(trial, model, strategy, data, state, keeper)
            train, validation = datasets
            with training_scope(strategy):
                model.fit(
                    train,
                    validation_data=validation,
                    epochs=trial.config.fit.epochs,
                    initial_epoch=state.epoch if state else 0,
                    callbacks=[
                        *fit_callbacks(strategy),
                        *self._callbacks,
                        *([keeper] if keeper else []),
                        reporter,
                    ],
                    shuffle=False,  # the tf.data pipeline shuffles
                    verbose=0,
                )
            if reporter.failure:
                return fail_trial(self.sink, trial, reporter.failure, reporter, started)
            return finish_trial(self.sink, self.artifacts, trial, model, reporter, data, started)
        except (BuildError, TuilabError) as exc:
            return fail_trial(self.sink, trial, str(exc), reporter, started)
        except Exception as exc:
            reason = describe_failure(exc, trial.config)
            return fail_trial(self.sink, trial, reason, reporter, started)

    def _prepare(
        self, trial: Trial, data: PreparedData, resuming: bool = False
    ) -> tuple[Any, Any, tuple[Any, Any]]:
        keras = import_keras()
        from tuilab.data.pipeline import EpochOrder, make_dataset

        keras.backend.clear_session()  # free the previous trial's graphs: memory stays flat
        seed_everything(trial.seed)
        fit = trial.config.fit
        strategy = make_strategy(trial.config.run)
        check_batch_split(fit.batch_size, strategy)
        steps = steps_per_epoch(len(data.x_train), fit.batch_size, even_split(strategy))
        keras.mixed_precision.set_global_policy(
            "mixed_float16" if fit.mixed_precision else "float32"
        )
        with strategy.scope():
            model = build_model(trial.config, data.input_shape, data.classes)
            model.compile(
                optimizer=make_optimizer(trial.config.compile.optimizer),
                loss=make_loss(trial.config.compile.loss),
                metrics=check_metrics(trial.config.compile.metrics),
                steps_per_execution=steps_per_execution(
                    fit.steps_per_execution, steps, keras.backend.backend()
                ),
                jit_compile=fit.jit_compile,
            )
        if in_cluster(strategy):
            adapt_for_cluster(model, strategy, (data.x_train[:2], data.y_train[:2]))
        own = make_callbacks(
            trial.config.callbacks,
            RunFolder(self.artifacts).trial(trial.name) if self.artifacts is not None else None,
        )
        if resuming:
            for callback in own:
                if type(callback).__name__ == "CSVLogger":
                    callback.append = True  # continue its file, as the run store does
        order = EpochOrder()
        self._callbacks = [order.callback(), *own]
        train = make_dataset(
            data.x_train,
            data.y_train,
            fit.batch_size,
            shuffle=fit.shuffle,
            seed=trial.seed,
            shuffle_buffer=trial.config.data.shuffle_buffer,
            order=order,
            replicas=even_split(strategy),
        )
        validation = None
        if data.x_val is not None:
            validation = make_dataset(
                data.x_val, data.y_val, fit.batch_size, shuffle=False, seed=trial.seed
            )
        return model, strategy, (train, validation)

    def _state_keeper(self, trial: Trial, state: TrialState | None) -> Any:
        """The callback that saves (and on resume restores) the trial's state, when stored."""
        if self.artifacts is None:
            return None
        return make_state_keeper(
            trial=trial.name,
            folder=RunFolder(self.artifacts).resume_dir(trial.name),
            callbacks=self._callbacks,
            restore=state,
            seconds_before=state.seconds if state else 0.0,
        )

    def _start(
        self,
        trial: Trial,
        model: Any,
        strategy: Any,
        data: PreparedData,
        state: TrialState | None = None,
        keeper: Any = None,
    ) -> Any:
        fit = trial.config.fit
        steps = steps_per_epoch(len(data.x_train), fit.batch_size, even_split(strategy))
        early = [c for c in self._callbacks if type(c).__name__ == "EarlyStopping"]
        changers = [type(c).__name__ for c in self._callbacks if type(c).__name__ in RATE_CHANGERS]
        reporter = make_reporter(
            trial=trial.name,
            sink=self.sink,
            control=self.control,
            steps=steps,
            batch_size=fit.batch_size,
            checkpoint_path=self._checkpoint_path(trial),
            early_stoppers=early,
            rate_changers=changers,
            first_epoch=state.epoch if state else 0,
            save_state=keeper.save if keeper else None,
            probe=LayerProbe.first_batch(data.x_train, data.y_train, fit.batch_size),
            report_now=lambda model, during: report_confusion(
                self.sink, self.artifacts, trial, model, data, during
            ),
        )
        if state is not None:
            self.sink(
                VariantResumed(
                    trial.name,
                    trial.variant,
                    trial.repeat,
                    trial.seed,
                    fit.epochs,
                    state.epoch,
                    steps,
                    fit.batch_size,
                    state.learning_rate,
                )
            )
            return reporter
        samples = {"train": len(data.x_train), "test": len(data.x_test)}
        if data.x_val is not None:
            samples["validation"] = len(data.x_val)
        self.sink(
            VariantStarted(
                trial.name,
                trial.variant,
                trial.repeat,
                trial.seed,
                fit.epochs,
                steps,
                fit.batch_size,
                samples,
                summarize(model).to_dict(),
                batchnorm_state(model),
                learning_rate_of(model.optimizer),
                strategy_name(strategy),
                int(strategy.num_replicas_in_sync),
                int(model.steps_per_execution),
                bool(model.jit_compile),
                compiler_name(backend_name()),
            )
        )
        return reporter

    def _checkpoint_path(self, trial: Trial) -> Callable[[int], Path] | None:
        if self.artifacts is None:
            return None
        run = RunFolder(self.artifacts)
        return lambda epoch: run.checkpoint_file(trial.name, epoch)
