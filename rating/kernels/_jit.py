"""The one import of numba: ``njit`` with the project's defaults and ``prange``.

``cache=True`` everywhere: compiled machine code is kept next to the sources, so a second
process (the CLI, the tests) starts in milliseconds instead of compiling again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

__all__ = ["kernel", "parallel_kernel", "prange", "set_threads", "threads"]

F = TypeVar("F", bound=Callable[..., Any])

prange = numba.prange


def kernel(func: F) -> F:
    """A serial kernel: nopython, cached, fastmath off (sums must equal the reference's)."""
    return cast(F, numba.njit(cache=True, nogil=True)(func))


def parallel_kernel(func: F) -> F:
    """A kernel whose outer ``prange`` loop runs over devices on all threads."""
    return cast(F, numba.njit(cache=True, nogil=True, parallel=True)(func))


def threads() -> int:
    """Threads numba uses now."""
    return int(numba.get_num_threads())


def set_threads(count: int) -> None:
    """Use ``count`` threads from now on (at most NUMBA_NUM_THREADS)."""
    numba.set_num_threads(count)
