"""Server-rendered web pages: the customer portal under ``/`` and the staff console under ``/staff/``."""

from __future__ import annotations

from fastapi import FastAPI

__all__ = ["install_pages"]


def install_pages(app: FastAPI) -> None:
    """Mount the page routers and static files on ``app`` (called once by ``create_app``)."""
