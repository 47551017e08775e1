"""Helpers the tests share: one module per role, imported by test modules (never a test module
imported by another). ``REPO`` is the checkout's root."""

from __future__ import annotations

from pathlib import Path

__all__ = ["REPO"]

REPO = Path(__file__).resolve().parents[2]
