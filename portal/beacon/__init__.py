"""A GA4GH Beacon v2 face on the portal, under ``/api/beacon``.

Framework endpoints: ``/`` and ``/info`` (beacon info), ``/service-info`` (GA4GH
service-info), ``/configuration``, ``/map``, ``/entry_types``, ``/filtering_terms`` (also
``/biosamples/filtering_terms`` and ``/individuals/filtering_terms``). Entry types, GET or POST:
``/biosamples`` and ``/biosamples/{id}`` (cell-line records), ``/individuals``,
``/individuals/{id}`` and ``/individuals/{id}/biosamples`` (their donors, one per line).

Why under ``/api/``: the Beacon is one more JSON API of the portal, so it shares the API's
plumbing: exempt from the forms' CSRF check (its POSTs are queries that change nothing),
rate-limited like the search API, its body size capped, and documented in the portal's
OpenAPI document (``/api/v1/openapi.json``). The Beacon version is carried by every answer's
``meta.apiVersion``, so the path needs no version of its own.

What a caller sees is decided in ``granularity.py`` (anonymous: ``count`` by default, never
records; signed-in alliance members: records), what a record holds in ``records.py`` (what
the public search API shows, nothing personal), what the filters mean in ``filters.py``.
Every engine request is built in ``search.queries`` (``build_beacon_*``). Every error on these
routes (bad input, unknown filters, an over-broad query, an engine that is down, rate limits)
is a Beacon error response with the HTTP status as its ``errorCode``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, jsonify, request, url_for
from werkzeug.exceptions import HTTPException

from federation.web.login import User, current_user
from portal.beacon import framework, records
from portal.beacon.filters import RESOURCES, filtering_terms
from portal.beacon.granularity import LEVELS, allowed_level, anonymous_level, returned_level
from portal.beacon.query import BeaconQuery, QueryError, from_args, from_body
from portal.service import current_search
from search.facets import Selection
from search.queries import (
    MAX_WINDOW,
    BeaconTerm,
    build_beacon_count,
    build_beacon_filtering_values,
    build_beacon_records,
    read_beacon_count,
    read_beacon_filtering_values,
    read_beacon_records,
)

bp = Blueprint("beacon", __name__)

MAX_ID = 400  # longer ids name nothing in the catalogue


# -- errors: every one a Beacon error response -------------------------------------------------
@bp.errorhandler(HTTPException)
def beacon_error(exc: HTTPException) -> Response:
    config = current_app.config
    query = g.get("beacon_query") or BeaconQuery()
    level = g.get("beacon_level") or anonymous_level(config)
    code = exc.code or 500
    body = framework.error_response(
        config,
        g.get("beacon_entry"),
        query.summary(anonymous_level(config)),
        level,
        code,
        str(exc.description or exc.name),
    )
    resp = jsonify(body)
    resp.status_code = code
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            resp.headers[name] = value  # Allow on a 405, Retry-After on a 429
    return resp


# -- who asks, what they sent ------------------------------------------------------------------
def _user() -> User | None:
    """The signed-in user; the session is opened only when the request carries its cookie,
    so anonymous answers do not vary by cookie."""
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return None
    return current_user()


def _query() -> BeaconQuery:
    try:
        if request.method == "POST":
            raw = request.get_data(cache=True)
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                raise QueryError("the request body is not JSON") from None
            query = from_body(body)
            if request.args:
                raise QueryError("a POST takes its query in the body, not in the URL")
        else:
            query = from_args(request.args)
    except QueryError as exc:
        abort(400, str(exc))
    g.beacon_query = query
    return query


def _urls() -> framework.Urls:
    return framework.Urls(
        root=url_for("beacon.root", _external=True).rstrip("/"),
        portal=url_for("views.search_page", _external=True),
        openapi=url_for("api.openapi", _external=True),
    )


def _record_url(uid: str) -> str:
    return url_for("views.record_page", uid=uid, _external=True)


def _lowered(requested: str | None, level: str, user: User | None) -> dict[str, Any] | None:
    """A note for the caller when the answer says less than was asked for."""
    if not requested or LEVELS.index(requested) <= LEVELS.index(level):
        return None
    why = (
        "record-level answers are for signed-in alliance members: sign in at the portal"
        if user is None
        else "this is the most this beacon answers you"
    )
    return {"messages": [f"{requested} granularity was requested; answered at {level}: {why}"]}


# -- the framework -----------------------------------------------------------------------------
@bp.get("/")
def root():
    return jsonify(framework.info_response(current_app.config, _urls()))


@bp.get("/info")
def info():
    return jsonify(framework.info_response(current_app.config, _urls()))


@bp.get("/service-info")
def service_info():
    return jsonify(framework.service_info(current_app.config, _urls()))


@bp.get("/configuration")
def configuration():
    return jsonify(framework.configuration_response(current_app.config))


@bp.get("/map")
def beacon_map():
    return jsonify(framework.map_response(current_app.config, _urls()))


@bp.get("/entry_types")
def entry_types():
    return jsonify(framework.entry_types_response(current_app.config))


@bp.get("/filtering_terms")
@bp.get("/biosamples/filtering_terms")
@bp.get("/individuals/filtering_terms")
def filtering_terms_list():
    """Every filtering term (each applies to both entry types); ``skip`` pages of ``limit``."""
    unknown = sorted(set(request.args) - {"skip", "limit"})
    if unknown:
        abort(400, f"unknown parameter {unknown[0]!r}; filtering terms take skip and limit")
    try:
        query = from_args(request.args)
    except QueryError as exc:
        abort(400, str(exc))
    search = current_search()
    values = read_beacon_filtering_values(search._search(build_beacon_filtering_values()) or {})
    terms = filtering_terms(values, search.labels())
    if query.limit and "limit" in request.args:
        terms = terms[query.skip * query.limit : (query.skip + 1) * query.limit]
    return jsonify(framework.filtering_terms_response(current_app.config, terms, RESOURCES))


# -- entry types -------------------------------------------------------------------------------
def _answer(entry: str, *fixed: BeaconTerm) -> Response:
    """Answer a query on ``entry`` at the granularity the caller may have; ``fixed`` terms
    (an id in the path) narrow it further."""
    g.beacon_entry = entry
    query = _query()
    config = current_app.config
    user = _user()
    default = anonymous_level(config)
    level = returned_level(query.granularity, allowed_level(config, user), default)
    g.beacon_level = level
    summary = query.summary(default)
    terms = [*fixed, *query.terms]
    note = _lowered(query.granularity, level, user)
    today = dt.date.today()
    search = current_search()
    if level != "record":
        resp = search._search(build_beacon_count(entry, terms, today)) or {}
        count = read_beacon_count(entry, resp)
        body = framework.summary_response(config, entry, summary, level, count, note)
        return jsonify(body)
    offset, size = query.page(int(config["BEACON_MAX_LIMIT"]))
    if offset + size > MAX_WINDOW:
        abort(400, f"only the first {MAX_WINDOW} results can be paged through; add filters")
    resp = search._search(build_beacon_records(entry, terms, today, offset, size)) or {}
    count, groups = read_beacon_records(entry, resp)
    broad = int(config["BEACON_UNFILTERED_RECORD_MAX"])
    if not terms and count > broad:
        abort(
            400,
            f"a record-level query without filters would match {count} {entry}s, more than "
            f"{broad}: add filters, or ask for count granularity",
        )
    if entry == "biosample":
        results = [records.biosample(docs[0], _record_url) for docs in groups if docs]
    else:
        results = [records.individual(docs) for docs in groups if docs]
    page = {"skip": query.skip, "limit": size}
    body = framework.resultsets_response(
        config, entry, summary, count, results, query.include, page, note
    )
    return jsonify(body)


def _one(facet: str, value: str | None) -> BeaconTerm:
    """A term for one id of the path (none matches when the id cannot be one of ours)."""
    ok = value is not None and len(value) <= MAX_ID
    return BeaconTerm(facet, Selection((value,) if ok and value else ()))


@bp.route("/biosamples", methods=["GET", "POST"])
def biosamples():
    return _answer("biosample")


@bp.route("/biosamples/<id>", methods=["GET", "POST"])
def biosample(id: str):  # "id", as the Beacon spec names it
    return _answer("biosample", _one("uid", id))


@bp.route("/individuals", methods=["GET", "POST"])
def individuals():
    return _answer("individual")


@bp.route("/individuals/<id>", methods=["GET", "POST"])
def individual(id: str):
    return _answer("individual", _one("line_key", records.line_key_of(id)))


@bp.route("/individuals/<id>/biosamples", methods=["GET", "POST"])
def individual_biosamples(id: str):
    return _answer("biosample", _one("line_key", records.line_key_of(id)))
