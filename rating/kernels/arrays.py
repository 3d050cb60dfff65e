"""Interval readings as contiguous arrays, and their validation before any kernel runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rating.errors import InputArrayError, ReadingsError

__all__ = ["ERRORS", "IntervalArrays", "device_offsets", "raise_first_error", "require"]

# Error codes kernels write per device (0: fine); the wrapper turns the first into a ReadingsError.
ERRORS: dict[int, str] = {
    1: "readings are not sorted by device (sort by device index, then start time)",
    2: "readings of a device are not in time order or overlap the previous interval",
    3: "reading starts outside the calendar the kernel was given (build it over all readings)",
    4: "quantity is negative or not a number (interval consumption must be >= 0)",
    5: "interval length must be > 0 s",
}


@dataclass(frozen=True)
class IntervalArrays:
    """Interval readings sorted by device then start: device [index], start [s], length [s], quantity [unit]."""

    device: npt.NDArray[np.int32]
    start_s: npt.NDArray[np.int64]
    length_s: npt.NDArray[np.int32]
    quantity: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        require("device", self.device, np.int32)
        require("start_s", self.start_s, np.int64)
        require("length_s", self.length_s, np.int32)
        require("quantity", self.quantity, np.float64)
        sizes = {a.shape[0] for a in (self.device, self.start_s, self.length_s, self.quantity)}
        if len(sizes) != 1:
            raise InputArrayError("device, start_s, length_s and quantity must have the same length")

    def __len__(self) -> int:
        return int(self.device.shape[0])


def require(name: str, array: object, dtype: type[np.generic], ndim: int = 1) -> None:
    """Raise :class:`InputArrayError` unless ``array`` is a C-contiguous ``dtype`` array of ``ndim`` dimensions."""
    if not isinstance(array, np.ndarray):
        raise InputArrayError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype != np.dtype(dtype) or array.ndim != ndim or not array.flags.c_contiguous:
        raise InputArrayError(
            f"{name} must be a C-contiguous {ndim}-D {np.dtype(dtype).name} array, got {array.ndim}-D "
            f"{array.dtype.name}{'' if array.flags.c_contiguous else ' (not contiguous)'}; "
            f"pass np.ascontiguousarray({name}, dtype=np.{np.dtype(dtype).name})"
        )


def device_offsets(device: npt.NDArray[np.int32], n_devices: int) -> npt.NDArray[np.int64]:
    """Start of each device's readings (CSR offsets, length ``n_devices + 1``) in a device-sorted array.

    Kernels check every reading's device against its range, which proves the array sorted.
    """
    require("device", device, np.int32)
    offsets = np.searchsorted(device, np.arange(n_devices + 1, dtype=np.int32), side="left").astype(np.int64)
    if device.shape[0] and (offsets[0] != 0 or offsets[-1] != device.shape[0]):
        raise ReadingsError(f"device indices must lie in [0, {n_devices}) and be sorted ascending")
    return offsets


def raise_first_error(error_code: npt.NDArray[np.int64], error_index: npt.NDArray[np.int64]) -> None:
    """Raise a :class:`ReadingsError` for the earliest bad reading the kernel flagged, if any."""
    bad = np.flatnonzero(error_code)
    if bad.size:
        index = int(error_index[bad].min())
        code = int(error_code[bad[np.argmin(error_index[bad])]])
        raise ReadingsError(f"reading {index}: {ERRORS[code]}", index=index)
