"""Research resource pages (``/resources``, ``/resources/<id>``) and their JSON API
(``/api/v1/resources``, ``/api/v1/resources/<id>``). Thin over portal/research_resources.py."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, url_for

from portal.jsonld import script_json
from portal.research_resources import ResearchResources, resource_jsonld
from portal.service import current_search

bp = Blueprint("resources", __name__)


def resources() -> ResearchResources:
    """The research resources over the catalogue search of the app handling this request."""
    return ResearchResources(current_search())


@bp.get("/resources")
def list_page():
    return render_template("resources.html", resources=resources().all())


@bp.get("/resources/<path:resource_id>")
def resource_page(resource_id: str):
    resource = resources().one(resource_id)
    if resource is None:
        # Help, not a bare 404: the resources that do exist, and the search.
        return render_template(
            "resource_missing.html", resource_id=resource_id, resources=resources().all()
        ), 404
    page_url = url_for("resources.resource_page", resource_id=resource_id, _external=True)
    return render_template(
        "resource.html",
        resource=resource,
        jsonld=script_json(resource_jsonld(resource, page_url)),
    )


@bp.get("/api/v1/resources")
def list_api():
    return {"resources": resources().all()}


@bp.get("/api/v1/resources/<path:resource_id>")
def resource_api(resource_id: str):
    resource = resources().one(resource_id)
    if resource is None:
        abort(
            404,
            f"No line or collection names the research resource {resource_id!r}; "
            "GET /api/v1/resources lists those that exist.",
        )
    return resource
