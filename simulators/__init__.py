"""Simulated meter and vehicle fleets that publish over MQTT: the demo's world and the load tests' traffic.

Pure, seeded models (``meters``, ``vehicles``, over the load shapes of ``loads``) yield the
messages a fleet sends, as :class:`Outgoing` values in sending order; ``faults`` injects and
records duplicates, reordering, gaps, clock skew, garbage and spoofing; ``publisher`` sends them
to a broker at QoS 1, paced by an accelerated ``clock`` and a rate limit, with a capped number of
messages in flight. Only the publisher does I/O.
"""

from simulators.clock import RateLimiter, SimClock, parse_duration, parse_speed
from simulators.errors import FaultSpecError, PublishError, SimulationSpecError, SimulatorError
from simulators.faults import FAULTS, FaultInjector, FaultLedger, FaultName, FaultSpec, InjectedFault
from simulators.meters import MeterFleet, MeterFleetConfig, MeterModel, MeterSpec
from simulators.payloads import Outgoing
from simulators.publisher import BrokerEndpoint, Publisher, PublishProgress, PublishSummary
from simulators.vehicles import DriverProfile, SimTrip, VehicleFleet, VehicleFleetConfig, VehicleModel, VehicleSpec

__all__ = [
    "FAULTS",
    "BrokerEndpoint",
    "DriverProfile",
    "FaultInjector",
    "FaultLedger",
    "FaultName",
    "FaultSpec",
    "FaultSpecError",
    "InjectedFault",
    "MeterFleet",
    "MeterFleetConfig",
    "MeterModel",
    "MeterSpec",
    "Outgoing",
    "PublishError",
    "PublishProgress",
    "PublishSummary",
    "Publisher",
    "RateLimiter",
    "SimClock",
    "SimTrip",
    "SimulationSpecError",
    "SimulatorError",
    "VehicleFleet",
    "VehicleFleetConfig",
    "VehicleModel",
    "VehicleSpec",
    "parse_duration",
    "parse_speed",
]
