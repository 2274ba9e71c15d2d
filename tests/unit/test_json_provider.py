"""The apps' JSON through orjson (federation/web/json_provider.py): what Flask wrote before."""

from __future__ import annotations

import datetime as dt

from flask import Flask, jsonify
from markupsafe import Markup

from federation.web.json_provider import init_json


def test_the_apps_json_keeps_flasks_formats_and_the_views_key_order():
    app = Flask(__name__)
    init_json(app)

    @app.get("/x")
    def x():
        return jsonify(
            z=1, a=dt.datetime(2026, 12, 1, tzinfo=dt.UTC), m=Markup("<b>x</b>"), big=2**70 + 1
        )

    resp = app.test_client().get("/x")
    assert resp.mimetype == "application/json"
    assert list(resp.json) == ["z", "a", "m", "big"]
    assert resp.json["a"] == "Tue, 01 Dec 2026 00:00:00 GMT"  # an HTTP date, as Flask wrote it
    assert resp.json["m"] == "<b>x</b>" and resp.json["big"] == 2**70 + 1  # Flask's way
    assert app.json.loads(b'{"a": [1, "\\u00e9"]}') == {"a": [1, "é"]}
