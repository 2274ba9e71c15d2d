"""The alliance figures' page, JSON, CSV and Prometheus metrics; thin over service.py."""

from __future__ import annotations

import datetime as dt
import hmac

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from federation.web.login import current_user, login_required, signed_in_user
from portal.access.context import current_access
from portal.figures import formats, service
from portal.figures.compute import Figures, Period

bp = Blueprint("figures", __name__, template_folder="templates")


def _rows(user_required: bool = True) -> tuple[list[Figures], Period]:
    try:
        period = service.parse_period(request.args, dt.datetime.now(dt.UTC).date())
    except service.PeriodInvalid as exc:
        abort(400, str(exc))
    user = current_user()
    if user is None:
        abort(401, "Please log in first.")
    try:
        return service.figures_for(current_access().sessions, user, period), period
    except service.FiguresForbidden as exc:
        abort(403, str(exc))


@bp.get("/figures")
@login_required
def figures_page():
    rows, period = _rows()
    return render_template(
        "figures/figures.html",
        rows=rows,
        period=period,
        operator=signed_in_user().has_role(service.OPERATOR_ROLE),
    )


@bp.get("/api/v1/figures")
def figures_json():
    rows, period = _rows()
    return jsonify(formats.as_json(rows, period))


@bp.get("/api/v1/figures.csv")
def figures_csv():
    rows, period = _rows()
    name = f"cellfed-figures-{period.start}-{period.end}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return Response(formats.csv_lines(rows, period), mimetype="text/csv", headers=headers)


def _scraper() -> bool:
    """A Prometheus scraper showing FIGURES_METRICS_TOKEN as its bearer token."""
    token = current_app.config.get("FIGURES_METRICS_TOKEN")
    given = request.headers.get("Authorization", "")
    if not token or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").encode(), str(token).encode())


@bp.get("/api/v1/figures/metrics")
def figures_metrics():
    """Per-biobank request figures in Prometheus text, for the scraper's token or an
    alliance operator (biobank rows are not for the world: /api/v1/metrics is public)."""
    if _scraper():
        try:
            period = service.parse_period(request.args, dt.datetime.now(dt.UTC).date())
        except service.PeriodInvalid as exc:
            abort(400, str(exc))
        rows = service.all_figures(current_access().sessions, period)
    else:
        user = current_user()
        if user is None:
            abort(401, "Show the metrics token (FIGURES_METRICS_TOKEN) or log in.")
        if not user.has_role(service.OPERATOR_ROLE):
            abort(403, "Request metrics are for the alliance's operators.")
        rows, _ = _rows()
    return Response(formats.prometheus_text(rows), mimetype="text/plain; version=0.0.4")
