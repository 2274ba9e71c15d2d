"""Alliance figures: requests received, medians to first answer, decision and fulfilment,
approval rate, unanswered and unresponsive parts, per biobank and alliance-wide over a
period (compute.py, pure); who sees which rows (service.py); page, JSON, CSV and Prometheus
text (views.py, formats.py)."""

from __future__ import annotations

from flask import Flask


def init_figures(app: Flask) -> None:
    from portal.figures import views

    app.register_blueprint(views.bp)
