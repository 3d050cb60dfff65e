"""Ingestion gateway: MQTT in, validated canonical readings out to the store.

So far this package holds the broker plumbing every MQTT component shares: parsed broker
addresses (:mod:`gateway.mqtt`) and the embedded in-process broker used when no broker is
configured (:mod:`gateway.embedded_broker`).
"""

from gateway.errors import BrokerError, BrokerUrlError
from gateway.mqtt import BrokerAddress

__all__ = ["BrokerAddress", "BrokerError", "BrokerUrlError"]
