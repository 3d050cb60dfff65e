"""Devices: what the gateway knows about meters and vehicles, and how their words become quantities.

Pure domain code: no I/O library is imported here (enforced by tests/test_architecture.py). The
payload codecs have their own public surface in :mod:`devices.codecs`.
"""

from devices.errors import ConversionError, DeviceError, RegistryError, TripError, UnitError
from devices.model import Contract, ContractDevice, Customer, Device, MeterExchangeRecord, PostalAddress, Register
from devices.readings import CANONICAL_UNITS, Reading, ReadingKind, ReadingQuality, ReadingReview
from devices.trips import EventType, Trip, VehicleEvent
from devices.units import CANONICAL, Dimension, canonicalize, dimension_of, gas_volume_to_energy_kwh, to_canonical

__all__ = [
    "CANONICAL",
    "CANONICAL_UNITS",
    "Contract",
    "ContractDevice",
    "ConversionError",
    "Customer",
    "Device",
    "DeviceError",
    "Dimension",
    "EventType",
    "MeterExchangeRecord",
    "PostalAddress",
    "Reading",
    "ReadingKind",
    "ReadingQuality",
    "ReadingReview",
    "Register",
    "RegistryError",
    "Trip",
    "TripError",
    "UnitError",
    "VehicleEvent",
    "canonicalize",
    "dimension_of",
    "gas_volume_to_energy_kwh",
    "to_canonical",
]
