"""One error path for every app: JSON under ``/api/`` (and for API-only apps), a page for people.

Each app registers ``json_or_page(template)`` once; blueprints that want their own page (the
node's admin pages) register their own, and domain errors are mapped to HTTP errors once, with
``register_error_handler``, where the app is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

ErrorView = Callable[[HTTPException], tuple[Any, int]]


def json_error(exc: HTTPException) -> tuple[Response, int]:
    return jsonify(error=exc.name, detail=exc.description), exc.code or 500


def json_or_page(template: str | None, **context: Callable[[], Any]) -> ErrorView:
    """JSON for the APIs, ``template`` (with ``error``) for people; ``context`` gives more
    template variables, each computed when an error is shown."""

    def handle(exc: HTTPException) -> tuple[Any, int]:
        if template is None or request.path.startswith("/api/"):
            return json_error(exc)
        values = {name: make() for name, make in context.items()}
        return render_template(template, error=exc, **values), exc.code or 500

    return handle
