"""The dashboard page served at ``/ui``: one self-contained HTML file (inline CSS, JS and SVG charts
drawn by its own small script; no CDN, no external requests) reading ``/v1/monitoring/...``."""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["page"]


@cache
def page() -> str:
    """The page's HTML (read once from the package's ``ui.html``)."""
    return resources.files("monitoring").joinpath("ui.html").read_text(encoding="utf-8")
