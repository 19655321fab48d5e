"""GPU utilisation and memory while a benchmark side trains, sampled with `nvidia-smi`."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import statistics
import subprocess
import threading
from typing import Any


class GpuSampler:
    """`nvidia-smi` sampling GPU 0 every 200 ms in the background (a no-op without it)."""

    QUERY = "timestamp,utilization.gpu,memory.used"

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, float]] = []
        self.process: subprocess.Popen[str] | None = None
        self.thread: threading.Thread | None = None

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi"):
            command = ["nvidia-smi", "-i", os.environ.get("BENCH_GPU_INDEX", "0")]
            command += [f"--query-gpu={self.QUERY}", "--format=csv,noheader,nounits", "-lms", "200"]
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                stamp, util, memory = (part.strip() for part in line.split(","))
                when = dt.datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()
                self.samples.append((when, float(util), float(memory)))

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.thread is not None:
            self.thread.join(timeout=5)

    def figures(self, window: list[float] | None) -> dict[str, Any]:
        """Median utilisation and peak memory of the samples inside `window` (wall times)."""
        if self.process is None:
            return {"gpu_util_median": "n/a", "gpu_memory_mib_max": "n/a"}
        inside = [s for s in self.samples if window and window[0] <= s[0] <= window[1]]
        inside = inside or self.samples
        if not inside:
            return {"gpu_util_median": None, "gpu_memory_mib_max": None, "gpu_samples": 0}
        return {
            "gpu_util_median": statistics.median(s[1] for s in inside),
            "gpu_memory_mib_max": max(s[2] for s in inside),
            "gpu_samples": len(inside),
        }
