"""Macro over the runbooks' front matter: the runbook index."""

from __future__ import annotations

from docsite.data import MacroSource
from docsite.markdown import front_matter, title

__all__ = ["PageMacros"]


class PageMacros(MacroSource):
    def runbook_index(self) -> str:
        """A table of the runbooks from their front matter: page, alerts, severity, component."""
        lines = ["| runbook | alerts | severity | component |", "|---|---|---|---|"]
        for path in sorted(self.data.runbooks.glob("*.md")):
            if path.name == "index.md":
                continue
            text = path.read_text(encoding="utf-8")
            meta = front_matter(text)
            alerts = ", ".join(f"`{a}`" for a in meta.get("alerts") or []) or "symptom"
            lines.append(
                f"| [{title(text, path.stem)}]({path.name}) | {alerts} | {meta.get('severity', '')} | "
                f"{meta.get('component', '')} |"
            )
        return "\n".join(lines)
