"""HTTP API and web pages (FastAPI): ``create_app(settings, store)`` builds the application."""

from api.app import ApiSettings, create_app
from api.serve import RunningApi, start_api

__all__ = ["ApiSettings", "RunningApi", "create_app", "start_api"]
