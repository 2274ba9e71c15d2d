"""The node's human-facing front page: what it holds and where its API is."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from federation.node.store import current_store

bp = Blueprint("views", __name__, template_folder="templates")


@bp.get("/")
def overview():
    store = current_store()
    return render_template(
        "node/overview.html",
        name=current_app.config["NODE_NAME"],
        node_id=current_app.config["NODE_ID"],
        counts=store.counts(),
        latest_seq=store.latest_seq(),
    )
