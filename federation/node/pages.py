"""The node's human-facing front page: what it holds and where its API is."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from federation.node.app import get_store

bp = Blueprint("pages", __name__, template_folder="templates")


@bp.get("/")
def overview():
    store = get_store()
    return render_template(
        "node/overview.html",
        name=current_app.config["NODE_NAME"],
        node_id=current_app.config["NODE_ID"],
        counts=store.counts(),
        latest_seq=store.latest_seq(),
    )
