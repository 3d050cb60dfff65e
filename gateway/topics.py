"""MQTT topics of meterbill, parsed once into frozen values (DESIGN.md, "MQTT").

``meters/{id}/readings``, ``vehicles/{id}/trips``, ``vehicles/{id}/events``, ``devices/{id}/status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["SUBSCRIPTIONS", "Family", "Topic"]

Family = Literal["readings", "trips", "events", "status"]
_LAYOUT: dict[tuple[str, str], Family] = {
    ("meters", "readings"): "readings",
    ("vehicles", "trips"): "trips",
    ("vehicles", "events"): "events",
    ("devices", "status"): "status",
}
# What the gateway subscribes to (prefixed with $share/{group}/ for a shared subscription).
SUBSCRIPTIONS: tuple[str, ...] = ("meters/+/readings", "vehicles/+/trips", "vehicles/+/events", "devices/+/status")


@dataclass(frozen=True)
class Topic:
    family: Family
    device_id: str

    @classmethod
    def parse(cls, topic: str) -> Topic | None:
        """The topic's family and device, or None when it is not one of ours."""
        parts = topic.split("/")
        if len(parts) != 3 or not parts[1]:
            return None
        family = _LAYOUT.get((parts[0], parts[2]))
        return None if family is None else cls(family, parts[1])

    def __str__(self) -> str:
        root = {"readings": "meters", "trips": "vehicles", "events": "vehicles", "status": "devices"}[self.family]
        return f"{root}/{self.device_id}/{self.family}"
