"""Give heap memory that ended streams freed back to the operating system.

glibc's malloc keeps freed memory in its heaps for reuse; the many medium-sized tensors of batched
steps at varying batch sizes leave it fragmented, so a server's resident memory stays near its
peak after the streams end (measured: 20 streams of the demo model, 308 MB loaded, 480-590 MB
after they ended, 373-400 MB with a trim after each ended stream). `malloc_trim(0)` returns the
free pages; it takes about 0.2-8 ms, so it runs at most once per `interval_s`, only after a stream
has ended, in the model's worker thread. A server also keeps malloc to `ARENAS` arenas
(`limit_arenas`): by default each thread that allocates gets its own 64 MB arena, and the gRPC and
model threads' arenas each kept freed memory (measured with benchmarks/service_fuzz.py: after 300
random calls and 20 slow-reader streams the server held 1.07-1.16x its starting memory; with 2
arenas 1.03-1.09x, and the same model throughput). Elsewhere than glibc these do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable

__all__ = ["ARENAS", "HeapTrimmer", "limit_arenas", "release_free_heap"]

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def _libc_function(name: str) -> Callable[..., int] | None:
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


_TRIM = _libc_function("malloc_trim")
_MALLOPT = _libc_function("mallopt")


def limit_arenas(arenas: int = ARENAS) -> None:
    """Let malloc create at most `arenas` arenas from now on (glibc only; elsewhere nothing)."""
    if _MALLOPT is not None:
        _MALLOPT(_M_ARENA_MAX, arenas)


def release_free_heap() -> None:
    """Return the heap's free pages to the operating system (glibc only; elsewhere nothing)."""
    if _TRIM is not None:
        _TRIM(0)


class HeapTrimmer:
    """`release_free_heap` at most once per `interval_s`: `delay_s()` says how long to wait first."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.trims = 0
        self._last = float("-inf")

    def delay_s(self) -> float:
        """Seconds until the next trim may run."""
        return max(0.0, self._last + self.interval_s - time.monotonic())

    def trim(self) -> None:
        """Trim now (in the thread that should pay for it)."""
        self._last = time.monotonic()
        self.trims += 1
        release_free_heap()
