"""HTTP API and web pages (FastAPI): ``create_app(settings, store)`` builds the application."""

from api.app import ApiSettings, create_app

__all__ = ["ApiSettings", "create_app"]
