"""Saved searches with alerts, their private Atom feeds, and unmet demand.

* ``models.py``: the tables (migration 0003_saved_searches);
* ``service.py``: save, list, rename, delete, tokens; the engine calls the others share;
* ``views.py`` + ``templates/alerts/``: the pages (no JavaScript needed), the feed, the
  unsubscribe link and its RFC 8058 one-click POST;
* ``jobs.py``: the worker's pass that announces new and newly available lines
  (``cellfed/worker.py`` registers it as the portal's ``alerts`` job);
* ``feeds.py``: Atom 1.0 (RFC 4287);
* ``demand.py``: searches that found nothing or little, counted per ISO week without who
  searched; the page and CSV for operators and biobank admins.

``init_alerts(app)`` wires it into the portal app. Its imports are made inside, so that
``portal.alerts.models`` can be imported on its own (the migrations do, for the tables).
"""

from __future__ import annotations

from typing import Any


def init_alerts(app: Any) -> None:
    """Register the pages, the feed and the demand counters on the portal ``app``."""
    from portal.alerts.demand import init_demand
    from portal.alerts.views import bp

    app.register_blueprint(bp)
    init_demand(app)
