"""The reference backend the runbooks operate: HTTP API, WebSocket hub, two-tier cache, SQLite, supervisor.

Start it with ``backend supervise`` (or ``make backend``); configure it with ``BACKEND_*``
environment variables (:mod:`backend.settings`).
"""

from backend.app import Backend, create_app
from backend.settings import Settings, SettingsError

__all__ = ["Backend", "Settings", "SettingsError", "create_app"]
