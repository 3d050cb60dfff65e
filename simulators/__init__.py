"""Simulated meter and vehicle fleets that publish over MQTT: the demo's world and the load tests' traffic."""
