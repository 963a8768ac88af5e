"""The resident size of a benchmark's process, and its peak while something runs."""

from __future__ import annotations

import os
import threading
import time


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1048576


class RssPeak:
    """Sampled every 5 ms from start() to stop() (or as a context): ``before`` and the
    ``peak`` in MB."""

    def __enter__(self) -> RssPeak:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> RssPeak:
        self.before = self.peak = rss_mb()
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.005)

    def stop(self) -> None:
        self._done.set()
        self._sampler.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def growth_mb(self) -> float:
        return self.peak - self.before
