"""Game days: every runbook proven under its own real fault (python -m scripts.gameday PAGE)."""
