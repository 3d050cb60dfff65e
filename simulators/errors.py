"""Simulator errors: a bad fleet or fault specification, or a broker that would not take the traffic."""

from __future__ import annotations

from meterbill.errors import MeterbillError

__all__ = ["FaultSpecError", "PublishError", "SimulationSpecError", "SimulatorError"]


class SimulatorError(MeterbillError):
    """Base class of the simulators' errors."""


class SimulationSpecError(SimulatorError, ValueError):
    """A fleet, duration, interval or clock setting cannot be simulated; the message says which and why."""


class FaultSpecError(SimulatorError, ValueError):
    """A ``--faults`` specification names an unknown fault or a probability outside [0, 1].

    ``spec`` is the whole specification as given, ``item`` the part that is wrong (None when the
    problem is the whole, e.g. probabilities that add up to more than 1).
    """

    def __init__(self, message: str, *, spec: str, item: str | None = None) -> None:
        super().__init__(message)
        self.spec = spec
        self.item = item


class PublishError(SimulatorError, ConnectionError):
    """The broker could not be reached, refused the connection, or stopped acknowledging."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url
