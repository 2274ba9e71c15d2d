"""A Beacon query as the client sent it: GET parameters or a POST body, read strictly.

GET takes ``filters`` (repeated, or comma-separated), ``requestedGranularity``, ``skip``,
``limit``, ``includeResultsetResponses``, ``requestedSchema`` and ``testMode``. A POST body is
``{"meta": {"apiVersion": "v2.0.0", ...}, "query": {"filters": [...], "requestedGranularity":
..., "pagination": {"skip": 0, "limit": 10}, "includeResultsetResponses": ..., "testMode":
...}}``. An unknown parameter or key (a typo would otherwise widen the query), a value of the
wrong type, an API version other than 2, or request parameters (this beacon has none: no
genomic queries) are a :class:`QueryError`, answered as a Beacon error (400).

Pagination follows the framework's definition: ``skip`` is a number of *pages* of ``limit``
results; ``limit`` 0 means "as many as allowed", and no more than ``BEACON_MAX_LIMIT`` are
ever sent in one answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from portal.beacon.filters import FilterError, parse_filters
from portal.beacon.framework import API_VERSION
from portal.beacon.granularity import LEVELS
from search.queries import BeaconTerm

DEFAULT_LIMIT = 10  # the framework's default page size
INCLUDE = ("ALL", "HIT", "MISS", "NONE")
GET_PARAMS = frozenset(
    {
        "filters",
        "requestedGranularity",
        "skip",
        "limit",
        "includeResultsetResponses",
        "requestedSchema",
        "testMode",
    }
)
BODY_KEYS = frozenset({"$schema", "meta", "query"})
QUERY_KEYS = frozenset(
    {
        "filters",
        "includeResultsetResponses",
        "pagination",
        "requestParameters",
        "requestedGranularity",
        "testMode",
    }
)
API_V2 = re.compile(r"^v?2(\.\d+){0,2}$")
MAX_NUMBER = 1_000_000


class QueryError(ValueError):
    """A request this beacon cannot read; the message says what is wrong."""


@dataclass
class BeaconQuery:
    api_version: str = API_VERSION
    requested_schemas: list[dict[str, Any]] = field(default_factory=list)
    terms: list[BeaconTerm] = field(default_factory=list)
    filters: list[str] = field(default_factory=list)  # as read, for the summary
    granularity: str | None = None
    skip: int = 0
    limit: int = DEFAULT_LIMIT
    include: str = "HIT"
    test_mode: bool = False

    def page(self, max_limit: int) -> tuple[int, int]:
        """(offset, size) of the requested page, at most ``max_limit`` results."""
        size = min(self.limit or max_limit, max_limit)
        return self.skip * size, size

    def summary(self, default_granularity: str) -> dict[str, Any]:
        """The receivedRequestSummary of an answer."""
        out: dict[str, Any] = {
            "apiVersion": self.api_version,
            "requestedSchemas": self.requested_schemas,
            "pagination": {"skip": self.skip, "limit": self.limit},
            "requestedGranularity": self.granularity or default_granularity,
            "includeResultsetResponses": self.include,
        }
        if self.filters:
            out["filters"] = self.filters
        if self.test_mode:
            out["testMode"] = True
        return out


def _number(value: Any, name: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_NUMBER:
        raise QueryError(f"'{name}' must be a whole number from 0 to {MAX_NUMBER}")
    return value


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise QueryError(f"'{name}' must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise QueryError(f"'{name}' must be true or false")


def _filters(raw: Any, from_get: bool) -> tuple[list[BeaconTerm], list[str]]:
    try:
        return parse_filters(raw, from_get)
    except FilterError as exc:
        raise QueryError(str(exc)) from None


def from_args(args: Any) -> BeaconQuery:
    """A query from GET parameters (a MultiDict)."""
    unknown = sorted(set(args.keys()) - GET_PARAMS)
    if unknown:
        raise QueryError(
            f"unknown parameter {unknown[0]!r}; a Beacon GET takes {', '.join(sorted(GET_PARAMS))}"
        )
    for name in GET_PARAMS - {"filters"}:
        if len(args.getlist(name)) > 1:
            raise QueryError(f"'{name}' is given more than once")
    query = BeaconQuery()
    ids = [part.strip() for value in args.getlist("filters") for part in value.split(",")]
    query.terms, query.filters = _filters([i for i in ids if i], from_get=True)
    if args.get("requestedGranularity"):
        query.granularity = _choice(args["requestedGranularity"], "requestedGranularity", LEVELS)
    if args.get("skip"):
        query.skip = _number(args["skip"], "skip")
    if args.get("limit"):
        query.limit = _number(args["limit"], "limit")
    if args.get("includeResultsetResponses"):
        query.include = _choice(
            args["includeResultsetResponses"], "includeResultsetResponses", INCLUDE
        )
    if args.get("requestedSchema"):
        query.requested_schemas = [{"schema": args["requestedSchema"]}]
    if args.get("testMode"):
        query.test_mode = _flag(args["testMode"], "testMode")
    return query


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise QueryError(f"'{name}' must be an object")
    return value


def from_body(body: Any) -> BeaconQuery:
    """A query from a POST body (decoded JSON; None for an empty body)."""
    query = BeaconQuery()
    if body is None:
        return query
    body = _object(body, "the request body")
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise QueryError(f"unknown key {unknown[0]!r}; a Beacon request has meta and query")
    meta = _object(body.get("meta", {}), "meta")
    if "apiVersion" in meta:
        version = meta["apiVersion"]
        if not isinstance(version, str) or not API_V2.match(version):
            raise QueryError(f"this beacon speaks Beacon v2 ({API_VERSION}), not {version!r}")
        query.api_version = version
    schemas = meta.get("requestedSchemas", [])
    if not isinstance(schemas, list) or not all(isinstance(s, dict) for s in schemas):
        raise QueryError("'meta.requestedSchemas' must be a list of objects")
    query.requested_schemas = schemas
    spec = _object(body.get("query", {}), "query")
    unknown = sorted(set(spec) - QUERY_KEYS)
    if unknown:
        raise QueryError(
            f"unknown key {unknown[0]!r} in 'query'; it takes {', '.join(sorted(QUERY_KEYS))}"
        )
    if spec.get("requestParameters"):
        raise QueryError("this beacon takes no request parameters (no genomic queries)")
    query.terms, query.filters = _filters(spec.get("filters"), from_get=False)
    if spec.get("requestedGranularity") is not None:
        query.granularity = _choice(spec["requestedGranularity"], "requestedGranularity", LEVELS)
    pagination = _object(spec.get("pagination", {}), "pagination")
    unknown = sorted(set(pagination) - {"skip", "limit"})
    if unknown:  # page tokens included: this beacon pages by skip and limit only
        raise QueryError(f"unknown key {unknown[0]!r} in 'pagination'; it takes skip and limit")
    if "skip" in pagination:
        query.skip = _number(pagination["skip"], "pagination.skip")
    if "limit" in pagination:
        query.limit = _number(pagination["limit"], "pagination.limit")
    if spec.get("includeResultsetResponses") is not None:
        query.include = _choice(
            spec["includeResultsetResponses"], "includeResultsetResponses", INCLUDE
        )
    if "testMode" in spec:
        query.test_mode = _flag(spec["testMode"], "testMode")
    return query
