"""Session fixtures for the e-invoice tests: the rule sets are loaded and compiled once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.einvoice.validation import SchematronValidator, XsdValidator


@pytest.fixture(scope="session")
def schematron() -> Iterator[SchematronValidator]:
    validator = SchematronValidator()
    try:
        yield validator
    finally:
        validator.close()


@pytest.fixture(scope="session")
def xsd() -> XsdValidator:
    return XsdValidator()
