"""Broker credentials and ACLs for Mosquitto, generated from the device registry.

The password file holds each device's stored ``$7$`` hash (the format ``mosquitto_passwd``
writes; secrets are never known again after they were shown) plus the gateway's own user. The ACL
lets each device publish only under its own topics, so a device that lies about its id is refused
by the broker and the gateway never sees the message; the gateway may read them all. Suspended
and retired devices, and devices that never got a secret, are left out: the broker refuses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from devices.model import Device

__all__ = ["BrokerAuthFiles", "device_topics", "render_broker_auth"]

_ALLOWED_STATUSES = frozenset({"provisioned", "active"})


def device_topics(device: Device) -> tuple[str, ...]:
    """The topic filters a device may publish to (DESIGN.md, MQTT)."""
    root = "vehicles" if device.kind == "vehicle" else "meters"
    return (f"{root}/{device.id}/#", f"devices/{device.id}/status")


@dataclass(frozen=True)
class BrokerAuthFiles:
    passwd: str
    acl: str
    devices: int  # how many devices may connect
    skipped: tuple[str, ...]  # ids left out, each with why


def render_broker_auth(devices: Sequence[Device], *, gateway_user: str, gateway_hash: str) -> BrokerAuthFiles:
    """The text of Mosquitto's ``password_file`` and ``acl_file``."""
    passwd = [f"{gateway_user}:{gateway_hash}"]
    acl = [
        "# meterbill broker ACL, written by `meterbill broker export-auth`; regenerate, do not edit.",
        "# The gateway reads everything devices publish (also through $share/<group>/... subscriptions).",
        f"user {gateway_user}",
        "topic read meters/#",
        "topic read vehicles/#",
        "topic read devices/#",
    ]
    skipped: list[str] = []
    allowed = 0
    for device in sorted(devices, key=lambda d: d.id):
        if device.id == gateway_user:
            skipped.append(f"{device.id}: same name as the gateway user")
        elif device.status not in _ALLOWED_STATUSES:
            skipped.append(f"{device.id}: {device.status}")
        elif device.secret_hash is None:
            skipped.append(f"{device.id}: no secret (run `meterbill devices rotate-secret {device.id}`)")
        else:
            passwd.append(f"{device.id}:{device.secret_hash}")
            acl.append("")
            acl.append(f"user {device.id}")
            acl.extend(f"topic write {topic}" for topic in device_topics(device))
            allowed += 1
    return BrokerAuthFiles("\n".join(passwd) + "\n", "\n".join(acl) + "\n", allowed, tuple(skipped))
