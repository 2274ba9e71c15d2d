"""Saved searches' pages, their private Atom feeds, unsubscribing, and unmet demand.

Server-rendered forms that work without JavaScript, each with its CSRF field
(federation/web/csrf.py). Every route that names a saved search looks it up among the
signed-in user's own, so another user's search answers 404, as an unknown one does. The
feed and the unsubscribe link need no login: their unguessable tokens are the key. The
RFC 8058 one-click unsubscribe is a POST under /api/ (no CSRF token: a mail client sends
it, and it can only switch e-mails off).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from federation.web.login import User, current_user, login_required
from portal.access.context import current_access
from portal.alerts import demand, feeds
from portal.alerts.models import SavedSearch, SavedSearchHit
from portal.alerts.service import (
    AlertService,
    SaveRefused,
    SearchNotFound,
    engine_search,
)
from portal.service import SearchUnavailable, current_search
from search.queries import build_catalogue_values, read_catalogue_values
from search.vocab import AVAILABILITY_LABELS

bp = Blueprint("alerts", __name__, template_folder="templates")

ALERTS_KEY = "cellfed.alerts"
FEED_ENTRIES = 50
PAGE_HITS = 50
DEMAND_WEEKS = (1, 104)  # the most weeks one page shows
PRIVATE = {"Cache-Control": "no-store"}  # pages that show a private token


def current_alerts() -> AlertService:
    """The saved-search service of the portal app handling this request."""
    app: Any = current_app
    service = app.extensions.get(ALERTS_KEY)
    if service is None:
        service = app.extensions[ALERTS_KEY] = AlertService(current_access().sessions, app.config)
    return service


def _user() -> User:
    user = current_user()
    if user is None:  # login_required ran first; this keeps the type checker sure of it
        abort(401, "Please log in first.")
    return user


def _mine(search_id: str) -> SavedSearch:
    try:
        return current_alerts().search_of(_user(), search_id)
    except SearchNotFound as exc:
        abort(404, str(exc))


def _index_cursors() -> dict[str, int] | None:
    """Node -> sequence indexed, where the new search's alerts start; None if unknown."""
    try:
        return {node: int(s["cursor"]) for node, s in current_search().node_states().items()}
    except SearchUnavailable:
        return None


# -- saving and the owner's pages ------------------------------------------------------------
@bp.post("/searches")
@login_required
def save():
    query = request.form.get("query", "")
    try:
        saved, created = current_alerts().save(
            _user(), query, request.form.get("name", ""), _index_cursors()
        )
    except SaveRefused as exc:
        abort(400, str(exc))
    if created:
        flash(
            f"Saved “{saved.name}”. New matching lines, and lines available again, will be "
            "announced here and by e-mail."
        )
    else:
        flash(f"You had already saved this search, as “{saved.name}”.")
    return redirect(url_for("alerts.search_page", search_id=saved.id))


@bp.get("/searches")
@login_required
def list_page():
    user = _user()
    current_alerts().refresh_email(user)
    return render_template(
        "alerts/searches.html", searches=current_alerts().searches_of(user), user=user
    )


@bp.get("/searches/<search_id>")
@login_required
def search_page(search_id: str):
    saved = _mine(search_id)
    found = current_alerts().hits_of(saved.id, PAGE_HITS)
    page = render_template(
        "alerts/search.html",
        saved=saved,
        hits=found,
        availability=AVAILABILITY_LABELS,
        feed_url=url_for("alerts.feed", token=saved.feed_token, _external=True),
        can_mail=bool(_user().email or saved.owner_email),
    )
    return page, 200, PRIVATE


def _changed(search_id: str, message: str):
    flash(message)
    return redirect(url_for("alerts.search_page", search_id=search_id))


@bp.post("/searches/<search_id>/name")
@login_required
def rename(search_id: str):
    try:
        saved = current_alerts().rename(_user(), search_id, request.form.get("name", ""))
    except SearchNotFound as exc:
        abort(404, str(exc))
    except SaveRefused as exc:
        abort(400, str(exc))
    return _changed(saved.id, f"Renamed to “{saved.name}”.")


@bp.post("/searches/<search_id>/email")
@login_required
def set_email(search_id: str):
    choice = request.form.get("email", "")
    if choice not in ("on", "off"):
        abort(400, "Choose whether this search sends e-mails: 'on' or 'off'.")
    try:
        saved = current_alerts().set_email(_user(), search_id, choice == "on")
    except SearchNotFound as exc:
        abort(404, str(exc))
    state = "will send" if saved.email_alerts else "will not send"
    return _changed(saved.id, f"“{saved.name}” {state} e-mails; the portal still shows news.")


@bp.post("/searches/<search_id>/feed")
@login_required
def rotate_feed(search_id: str):
    try:
        saved = current_alerts().rotate_feed(_user(), search_id)
    except SearchNotFound as exc:
        abort(404, str(exc))
    return _changed(saved.id, "The feed has a new private address; the old one no longer works.")


@bp.post("/searches/<search_id>/delete")
@login_required
def delete(search_id: str):
    try:
        name = current_alerts().delete(_user(), search_id)
    except SearchNotFound as exc:
        abort(404, str(exc))
    flash(f"Deleted “{name}”: no more alerts, and its feed address no longer works.")
    return redirect(url_for("alerts.list_page"))


# -- by token, without login -------------------------------------------------------------------
@bp.get("/feeds/<token>.atom")
def feed(token: str):
    service = current_alerts()
    try:
        saved = service.by_feed_token(token)
    except SearchNotFound as exc:
        abort(404, str(exc))
    body = feeds.render(search_feed(saved, service.hits_of(saved.id, FEED_ENTRIES)))
    headers = {"Cache-Control": "private, max-age=60", "X-Robots-Tag": "noindex"}
    return Response(body, content_type=f"{feeds.MEDIA_TYPE}; charset=utf-8", headers=headers)


def search_feed(saved: SavedSearch, found: list[SavedSearchHit]) -> feeds.Feed:
    entries = []
    for hit in found:
        news = "New cell line" if hit.reason == "new" else "Available again"
        where = ", ".join(x for x in (hit.biobank_name, hit.country) if x)
        state = AVAILABILITY_LABELS.get(hit.availability or "", hit.availability or "")
        summary = f"{news} at {where or hit.node_id}" + (f": {state.lower()}" if state else "")
        entries.append(
            feeds.Entry(
                id=feeds.entry_id(saved.feed_uuid, hit.uid, hit.reason, hit.event_seq),
                title=hit.name if hit.reason == "new" else f"{hit.name} (available again)",
                link=url_for("views.record_page", uid=hit.uid, _external=True),
                updated=hit.found_at,
                summary=summary,
                category=hit.reason,
            )
        )
    return feeds.Feed(
        id=feeds.urn_uuid(uuid.UUID(saved.feed_uuid)),
        title=f"CellFed: {saved.name}",
        subtitle="New cell lines matching this saved search, and lines available again",
        self_url=url_for("alerts.feed", token=saved.feed_token, _external=True),
        alternate_url=url_for("views.search_page", _external=True) + f"?{saved.query}",
        updated=feeds.latest((h.found_at for h in found), saved.created_at),
        entries=tuple(entries),
    )


@bp.get("/alerts/unsubscribe/<token>")
def unsubscribe_page(token: str):
    try:
        saved = current_alerts().by_unsubscribe_token(token)
    except SearchNotFound as exc:
        abort(404, str(exc))
    return render_template("alerts/unsubscribe.html", saved=saved, token=token, done=False)


@bp.post("/alerts/unsubscribe/<token>")
def unsubscribe(token: str):
    try:
        saved = current_alerts().unsubscribe(token)
    except SearchNotFound as exc:
        abort(404, str(exc))
    return render_template("alerts/unsubscribe.html", saved=saved, token=token, done=True)


@bp.post("/api/v1/alerts/unsubscribe/<token>")
def one_click_unsubscribe(token: str):
    """RFC 8058: the mail client's one-click unsubscribe (List-Unsubscribe-Post)."""
    try:
        current_alerts().unsubscribe(token)
    except SearchNotFound as exc:
        abort(404, str(exc))
    return jsonify(unsubscribed=True)


# -- unmet demand ------------------------------------------------------------------------------
def _demand_rows() -> tuple[list[Any], int, int]:
    user = _user()
    if not (user.has_role("alliance-admin") or demand.administered(user)):
        abort(
            403,
            "Unmet demand is shown to the alliance's operators, and to biobank admins for "
            "their own catalogues.",
        )
    unknown = sorted(set(request.args) - {"weeks"})
    if unknown:
        abort(400, f"unknown parameter {unknown[0]!r}; this page takes 'weeks' only")
    raw = request.args.get("weeks", "12")
    low, high = DEMAND_WEEKS
    if not raw.isdigit() or not low <= int(raw) <= high:
        abort(400, f"'weeks' must be a whole number from {low} to {high}, got {raw!r}")
    weeks, k, today = int(raw), demand.threshold(current_app.config), dt.date.today()

    def held() -> dict[str, set[str]]:
        body = build_catalogue_values(demand.administered(user), today)
        answer = engine_search(current_search(), body)
        return read_catalogue_values(answer.get("aggregations", {}))

    sessions = current_access().sessions
    return demand.demand_rows(sessions, user, weeks, k, held, today), weeks, k


@bp.get("/demand")
@login_required
def demand_page():
    rows, weeks, k = _demand_rows()
    return render_template(
        "alerts/demand.html",
        rows=rows,
        weeks=weeks,
        k=k,
        describe=demand.describe,
        operator=_user().has_role("alliance-admin"),
    )


@bp.get("/demand.csv")
@login_required
def demand_csv():
    rows, _, _ = _demand_rows()
    stamp = dt.date.today().isoformat()
    headers = {
        "Content-Disposition": f'attachment; filename="cellfed-unmet-demand-{stamp}.csv"',
        "Cache-Control": "no-store",
    }
    return Response(demand.csv_lines(rows), mimetype="text/csv", headers=headers)
