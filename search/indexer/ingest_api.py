"""The indexer's push endpoints (push-mode nodes): where to push from, and a pushed page.

Only the node's own client, with a client-credentials token (not a person's login through
it), may push for that node: the same check as a poke (search/indexer/app.py), but always
required, whatever INDEXER_CLIENT_SECRET says, because a push writes to the index.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from flask import Flask, abort, jsonify, request

from federation import json_text
from search.indexer.ingest import Ingest, PushRefused
from search.indexer.sync import SyncError

PushAuth = Callable[[str | None, str], None]
"""Checks an Authorization header for a node id; raises PermissionError to refuse."""


def _refused(exc: PushRefused):
    return jsonify(exc.as_dict()), exc.status


def _pushed_json() -> Any:
    """The pushed page as request.get_json(silent=True) reads it (None if it is not JSON),
    with orjson first: a page is megabytes; the json module decides what orjson refuses."""
    if not request.is_json:
        return None
    try:
        return json_text.loads(request.get_data())
    except (ValueError, RecursionError):
        return None


def init_ingest(app: Flask, ingest: Ingest, auth: PushAuth, config: Mapping[str, Any]) -> None:
    engine_errors = ingest.indexer.engine.errors.TransportError
    # A pushed page is as large as a pulled one may be; Flask answers 413 above this.
    app.config["MAX_CONTENT_LENGTH"] = int(config.get("SYNC_MAX_BYTES") or 64 * 1024 * 1024)

    def authorised(node_id: str) -> None:
        try:
            auth(request.headers.get("Authorization"), node_id)
        except PermissionError as exc:
            abort(403, str(exc))

    @app.get("/api/v1/push/<node_id>")
    def push_state(node_id: str):
        """Where ``node_id`` should push from: the cursor the indexer durably reached."""
        authorised(node_id)
        try:
            return jsonify(ingest.where(node_id))
        except PushRefused as exc:
            return _refused(exc)
        except (SyncError, engine_errors):
            abort(503, "the search engine is not available; push again later")

    @app.post("/api/v1/push/<node_id>")
    def push_page(node_id: str):
        """One feed page of ``node_id``; ``snapshot=true`` on a full resend from 0."""
        authorised(node_id)
        snapshot = request.args.get("snapshot", "").lower() in ("1", "true")
        try:
            return jsonify(ingest.push(node_id, _pushed_json(), snapshot))
        except PushRefused as exc:
            return _refused(exc)
        except (SyncError, engine_errors):
            # Nothing of the page counts until the engine took it all: the cursor stays.
            abort(503, "the search engine did not take the page; push it again later")

    @app.get("/api/v1/openapi.json")
    def indexer_openapi():
        return jsonify(spec())


@cache
def spec() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("openapi.json").read_text())
