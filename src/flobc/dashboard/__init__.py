"""The browser dashboard's static files (HTML, JS, CSS and the vendored uPlot charts).

Validators serve them at ``/`` and ``/dashboard/...`` (:mod:`flobc.node.dashboard_api`);
no build step, no network access needed.
"""

from __future__ import annotations

from pathlib import Path

#: Folder holding ``index.html``, ``app.js``, ``style.css`` and ``vendor/``.
STATIC_DIR = Path(__file__).parent / "static"

__all__ = ["STATIC_DIR"]
