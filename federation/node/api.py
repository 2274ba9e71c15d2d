"""The publish API: node descriptor, change feed and single records (read-only, JSON)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request, url_for

from federation.bearer import require_token
from federation.node.feed_body import feed_page_body
from federation.node.identity import current_identity
from federation.node.openapi import spec
from federation.node.privacy import current_policy, publishable_record
from federation.node.store import current_store
from schemas import KINDS, SCHEMA_VERSION

bp = Blueprint("api", __name__)

harvester_only = require_token(
    verifier=lambda: current_identity().verifier,
    audience=lambda: current_app.config["NODE_ID"],  # tokens minted for this node only
    clients=lambda: set(current_app.config["FEED_CLIENTS"]),
)


@bp.before_request
def _trusted_harvesters_only():
    """With FEED_REQUIRE_TOKEN, the publish API answers only the alliance's harvesters."""
    if request.endpoint == "api.openapi" or not current_app.config["FEED_REQUIRE_TOKEN"]:
        return None
    return harvester_only(lambda: None)()


def _int_arg(name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, f"'{name}' must be an integer, got {raw!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        abort(400, f"'{name}' must be at least {minimum}{bound}, got {value}")
    return value


@bp.get("/node")
def node():
    """Who this node is, what it publishes, and where its feed is."""
    store = current_store()
    return jsonify(
        node_id=current_app.config["NODE_ID"],
        name=current_app.config["NODE_NAME"],
        schema_versions=[SCHEMA_VERSION],
        feed_url=url_for("api.feed", _external=True),
        latest_seq=store.latest_seq(),
        epoch=store.epoch(),
        counts=store.counts(),
    )


@bp.get("/feed")
def feed():
    """Changes after the cursor ``after``, in sequence order, ``limit`` at a time."""
    config = current_app.config
    after = _int_arg("after", 0, 0)
    limit = _int_arg("limit", config["FEED_PAGE_SIZE"], 1, config["FEED_MAX_PAGE_SIZE"])
    store = current_store()
    latest = store.latest_seq()
    horizon = store.horizon()
    # A reader that started at 0 and reconciles at the end ("snapshot") needs no tombstones.
    snapshot = request.args.get("snapshot", "").lower() in ("1", "true")
    if after > latest or (0 < after < horizon and not snapshot):
        why = (
            f"cursor {after} is beyond this node's latest change {latest}: its store was reset "
            "or restored"
            if after > latest
            else f"deletions up to change {horizon} were purged; cursor {after} is older"
        )
        return jsonify(
            error="resync_required",
            detail=f"{why}. Read the feed again from after=0 and drop what it no longer lists.",
            horizon=horizon,
            latest_seq=latest,
        ), 410
    # From the records' stored texts (federation/node/feed_body.py, shared with push mode),
    # under the facts policy: no count below k leaves the node.
    page = feed_page_body(store, config["NODE_ID"], after, limit, current_policy())
    return current_app.response_class(page.body, mimetype="application/json")


@bp.get("/records/<kind>/<local_id>")
def record(kind: str, local_id: str):
    if kind not in KINDS:
        abort(404, f"unknown record kind {kind!r}; known: {', '.join(KINDS)}")
    found = current_store().get(kind, local_id)
    if found is None:
        abort(404, f"no {kind} with id {local_id!r} at this node")
    return jsonify(publishable_record(kind, found, current_policy()))


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())
