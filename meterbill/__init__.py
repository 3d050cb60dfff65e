"""meterbill: IoT smart-meter and telematics billing gateway.

This package is the composition root: the CLI, the settings and the wiring that decides which
store and which broker the other packages talk to. It holds no business logic; the one shared
piece every package may import is :mod:`meterbill.errors`, the root of all our exceptions.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
