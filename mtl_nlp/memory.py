"""Peak memory of a training run: the allocator's peak on a GPU, the process's resident set sampled on a CPU."""

from __future__ import annotations

import threading

import psutil
import torch


class PeakMemory:
    """``peak = PeakMemory().start()`` ... ``peak.stop()`` returns the peak in bytes (also kept in ``peak.bytes``).

    On a CPU there is no allocator counter, so a thread samples the resident set size every ``interval`` seconds
    (a peak shorter than that can be missed; the figure includes the data and libraries the process holds).
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PeakMemory:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        else:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        process = psutil.Process()
        while True:
            self.bytes = max(self.bytes, process.memory_info().rss)
            if self._stop.wait(self.interval):
                return

    def stop(self) -> int:
        if self._thread is None:
            self.bytes = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()
        return self.bytes
