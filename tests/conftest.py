"""Shared fixtures: real databases (tests/fix_db.py) and a real MQTT broker (tests/fix_broker.py)."""

pytest_plugins = ["tests.fix_db", "tests.fix_broker"]
