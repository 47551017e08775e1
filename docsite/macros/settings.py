"""Macro over the backend's settings: the deployment guide's table cannot drift from the code."""

from __future__ import annotations

from backend.settings import SPECS
from docsite.data import MacroSource

__all__ = ["SettingsMacros"]


class SettingsMacros(MacroSource):
    def settings_table(self) -> str:
        """Every BACKEND_* variable from backend/settings.py, with its default, unit and purpose."""
        lines = ["| variable | default | unit | what it is for |", "|---|---|---|---|"]
        for spec in SPECS:
            default = spec.default if spec.default != "" else "(empty)"
            if spec.field == "data_dir":
                default = "./.data"
            lines.append(f"| `{spec.env}` | `{default}` | {spec.unit} | {spec.doc} |")
        return "\n".join(lines)
