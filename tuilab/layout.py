"""The file names of a run folder, spelled once (read and written by `runtime.run_folder`).

They live at the bottom of the package so that lower layers can respect them too: the model
layer refuses a callback path that would overwrite one of a trial's own files.
"""

from __future__ import annotations

RUN_JSON = "run.json"
HEARTBEAT = "heartbeat"
OWNER_LOCK = "owner.lock"
"""The soft lock of the process that trains the run: its pid, host and start (`run_lock`)."""
SCENARIO_TOML = "scenario.toml"
RESOLVED_JSON = "resolved.json"
EVENTS_JSONL = "events.jsonl"
RESULTS_JSON = "results.json"
CONTROL_DIR = "control"
TRIALS_DIR = "variants"
WORKERS_DIR = "workers"
"""A parallel run's worker processes: `worker-N.log` (their TensorFlow output)."""
TAGS_TXT = "tags.txt"
"""The run's tags, one a line (written by `tuilab tag`, readable without tuilab)."""
NOTE_MD = "note.md"
"""The run's note, free text (`tuilab note`)."""
TRASH_DIR = ".trash"
"""In the runs folder: deleted runs as `.trash/<stem>/<stamp>/`, until `tuilab purge`."""
TRASH_RECORD = "trashed.json"
"""In a deleted run's folder: where it came from and when it was deleted."""

HISTORY_CSV = "history.csv"
SUMMARY_JSON = "summary.json"
BATCHNORM_JSONL = "batchnorm.jsonl"
LAYERS_JSONL = "layers.jsonl"
"""Every trainable layer's weight and gradient norm per epoch (epoch 0: before training)."""
MODEL_KERAS = "model.keras"
CONFUSION_JSON = "confusion.json"
"""A classifier's confusion matrix, per-class metrics and mistakes on the test split."""
MISTAKES_NPZ = "mistakes.npz"
"""The images (after preprocessing) of a classifier's most confident test mistakes
(`runtime.mistakes`): arrays `index` (int64) and `images` (float32, N×H×W×C)."""
CHECKPOINT_PATTERN = "checkpoint-epoch{epoch:04d}.keras"
TENSORBOARD_DIR = "tensorboard"
"""TensorBoard event files of the trial (`runtime.tensorboard_log`): `train/`, `validation/`."""
RESUME_DIR = "resume"
"""What makes a trial resumable after its last finished epoch (`runtime.training_state`)."""
RESUME_STATE = "state.json"
WORKER_JSON = "worker.json"
"""Where a trial trained when it ran as a Ray task: node, host and pid."""
TRIAL_FILES = (
    HISTORY_CSV,
    SUMMARY_JSON,
    BATCHNORM_JSONL,
    LAYERS_JSONL,
    MODEL_KERAS,
    CONFUSION_JSON,
    MISTAKES_NPZ,
    RESUME_DIR,
    WORKER_JSON,
    TENSORBOARD_DIR,
)
"""What tuilab itself writes in a trial's folder (callbacks may not write over them)."""
