"""The seller settings file (``MB_SELLER_FILE`` / ``--seller``), read once for the CLI and the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from billing.documents import to_data
from billing.errors import BillingError
from billing.seller import DEVELOPMENT_SELLER
from meterbill.errors import ConfigurationError
from meterbill.settings import load_settings
from meterbill.wiring import load_seller


def test_a_seller_file_reads_back_the_seller_it_describes(tmp_path: Path) -> None:
    path = tmp_path / "seller.json"
    path.write_text(json.dumps(to_data(DEVELOPMENT_SELLER)), encoding="utf-8")
    assert load_seller(path) == DEVELOPMENT_SELLER
    assert load_settings(seller_file=path).seller_file == path


def test_an_unreadable_or_incomplete_seller_file_names_the_file_and_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"missing\.toml"):
        load_seller(tmp_path / "missing.toml")
    broken = tmp_path / "seller.toml"
    broken.write_text("[party]\nname = 'X'\n", encoding="utf-8")
    with pytest.raises(BillingError, match=r"seller\.toml: a \[payment\] table is required"):
        load_seller(broken)
