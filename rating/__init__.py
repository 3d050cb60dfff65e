"""Rating: the pure core that turns readings and tariffs into rated quantities.

Tariff model and validation, URDB import, calendars and Numba kernels live here; it takes arrays,
not domain objects, and imports no I/O library (enforced by tests/test_architecture.py).
"""
