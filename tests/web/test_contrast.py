"""docs/portal.md promises WCAG 2.1 AA contrast: every text colour of portal.css on the backgrounds it is used on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "api" / "static" / "portal.css").read_text(encoding="utf-8")
AA_TEXT = 4.5  # WCAG 2.1 SC 1.4.3, normal text

# (text, background) as portal.css pairs them: body text, links, muted text, header, buttons, badges, notices
PAIRS = [
    ("--ink", "--paper"),
    ("--ink", "--panel"),
    ("--muted", "--paper"),
    ("--muted", "--panel"),
    ("--brand", "--paper"),
    ("--brand-dark", "--paper"),
    ("#ffffff", "--ink"),
    ("#ffffff", "--brand"),
    ("#ffffff", "--brand-dark"),
    ("#ffffff", "--bad-ink"),
    ("--warn-ink", "--warn-bg"),
    ("--ok", "#e4f4e8"),
    ("--bad-ink", "--bad-bg"),
]


def _colour(name: str) -> str:
    if name.startswith("#"):
        return name
    match = re.search(rf"{re.escape(name)}:\s*(#[0-9a-fA-F]{{6}})\s*;", CSS)
    assert match, f"{name} is not a #rrggbb custom property of portal.css"
    return match[1]


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_ratio_is_wcags() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the classic AA grey


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_colours_meet_aa(text: str, background: str) -> None:
    assert contrast(_colour(text), _colour(background)) >= AA_TEXT
