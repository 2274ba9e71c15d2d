"""Who may do what on a member node's admin pages: authorisation per biobank.

Every record belongs to one biobank: a biobank record to itself, a collection or a cell line
to the biobank it names. A biobank administrator (realm role ``biobank-admin``, with the
biobank listed as ``<node id>:<biobank id>`` in the token's biobanks claim) sees and changes
only the records of the biobanks they administer, and a record they save may name only those
biobanks and their collections: nobody can move a record into a biobank, or under a
collection, that they do not administer. Networks belong to the whole node: everyone at the
admin pages may read them (biobank records name them), only a node operator may change
them. A node operator may do everything at the node: the realm role ``node-operator``
counts at a node only together with the entry ``<node id>:*`` in the same biobanks claim, so
the operator of one node has no reach at another (the role alone grants nothing anywhere).

The admin pages answer 404 for a record out of reach, exactly as for a missing id, and 403,
saying what is allowed, for an action the person may not take.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from federation.node.formats.report import CATALOGUE_SECTIONS, Conversion, Problem
from federation.node.store import CatalogueStore
from federation.web.login import User
from schemas import KINDS

NODE_OPERATOR = "node-operator"
"""The realm role of the people who run a node: every biobank, networks, full exports, at
the nodes their biobanks claim names with :data:`EVERY_BIOBANK` (see :func:`operates`)."""

EVERY_BIOBANK = "*"
"""In the biobanks claim, ``<node id>:*`` names a node its user operates (with the role)."""

NODE_WIDE_KINDS = frozenset({"network"})
"""Kinds that belong to no biobank: only a node operator changes them."""

COLLECTION_FIELDS = {"collection": ("parent",), "cell_line": ("collection",)}
"""Per kind, the fields that name a collection (which must be in one's own biobanks too)."""


def owner_of(kind: str, record: Mapping[str, Any]) -> str | None:
    """The biobank a record belongs to; None for a network (or a record too broken to say,
    which its schema check reports)."""
    if kind in NODE_WIDE_KINDS:
        return None
    value = record.get("id") if kind == "biobank" else record.get("biobank")
    return value if isinstance(value, str) else None


def operates(user: User, node_id: str) -> bool:
    """Is ``user`` this node's operator? The role ``node-operator`` and ``<node id>:*`` in
    the biobanks claim, both: the realm role is the same at every node, the claim's entry
    says which nodes."""
    return user.has_role(NODE_OPERATOR) and f"{node_id}:{EVERY_BIOBANK}" in user.biobanks


def _ids(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in sorted(values)) or "none"


@dataclass(frozen=True)
class Scope:
    """What one person may reach on this node's admin pages."""

    node_id: str
    biobanks: frozenset[str]  # the biobanks at this node they administer
    node_wide: bool  # a node operator (or anyone, on loopback with NODE_ADMIN_OPEN)
    holder: str  # who they are, for binding a staged import to them
    name: str

    @classmethod
    def of_user(cls, user: User, node_id: str) -> Scope:
        return cls(
            node_id,
            user.biobanks_at(node_id),
            operates(user, node_id),
            f"user {user.iss} {user.sub}",
            user.name,
        )

    @classmethod
    def open(cls, node_id: str, holder: str) -> Scope:
        """NODE_ADMIN_OPEN: whoever reaches the node on loopback runs it."""
        return cls(node_id, frozenset(), True, f"session {holder}", "loopback (NODE_ADMIN_OPEN)")

    @property
    def admits(self) -> bool:
        """May this person use the admin pages at all?"""
        return self.node_wide or bool(self.biobanks)

    def owns(self, biobank: str | None) -> bool:
        return self.node_wide or (biobank is not None and biobank in self.biobanks)

    def sees(self, kind: str, record: Mapping[str, Any]) -> bool:
        return kind in NODE_WIDE_KINDS or self.owns(owner_of(kind, record))

    def may_change(self, kind: str, record: Mapping[str, Any] | None = None) -> bool:
        """May this person change records of ``kind`` (this stored ``record``, when given)?"""
        if kind in NODE_WIDE_KINDS:
            return self.node_wide
        return record is None or self.owns(owner_of(kind, record))

    def allowed(self) -> str:
        """What this person may do here, said in a refusal."""
        if self.node_wide:
            return "As a node operator you may change every record at this node."
        return (
            f"You administer {_ids(self.biobanks)} at node {self.node_id!r}: you may see and "
            "change the records of those biobanks (the biobank, its collections and its cell "
            "lines). Networks and the records of other biobanks are changed by a node operator "
            f"(role {NODE_OPERATOR!r} with {f'{self.node_id}:{EVERY_BIOBANK}'!r} among the "
            "biobanks of the account)."
        )

    def node_wide_only(self, kind: str) -> str:
        return (
            f"{kind.replace('_', ' ').capitalize()}s are shared by the whole node: only a node "
            f"operator may change them. {self.allowed()}"
        )


class ScopedCatalogue:
    """The part of a node's catalogue one person may see, with the reads the admin pages and
    the exporter make (``records``, ``counts``, ``withdrawn_counts``). ``networks=False``
    leaves networks out (an export holds one's own biobanks' records only)."""

    def __init__(self, store: CatalogueStore, scope: Scope, networks: bool = True) -> None:
        self.store = store
        self.scope = scope
        self.networks = networks

    def _wanted(self, kind: str, record: Mapping[str, Any]) -> bool:
        if kind in NODE_WIDE_KINDS:
            return self.networks
        return self.scope.owns(owner_of(kind, record))

    def records(self, kind: str, withdrawn: bool = False) -> list[dict[str, Any]]:
        return [r for r in self.store.records(kind, withdrawn=withdrawn) if self._wanted(kind, r)]

    def counts(self) -> dict[str, int]:
        if self.scope.node_wide and self.networks:
            return self.store.counts()
        return {kind: len(self.records(kind)) for kind in KINDS}

    def withdrawn_counts(self) -> dict[str, int]:
        if self.scope.node_wide and self.networks:
            return self.store.withdrawn_counts()
        return {kind: len(self.records(kind, withdrawn=True)) for kind in KINDS}


def stored_owners(store: CatalogueStore, kind: str) -> dict[str, str | None]:
    """id -> owning biobank of every stored record of ``kind``, published or withdrawn."""
    return {
        r["id"]: owner_of(kind, r)
        for withdrawn in (False, True)
        for r in store.records(kind, withdrawn=withdrawn)
    }


def placement(scope: Scope, store: CatalogueStore) -> dict[str, dict[str, str]]:
    """The biobanks and collections an import may place hPSCreg lines in by default: this
    person's own (so "the node's only biobank" becomes "your only biobank")."""
    return {
        "biobank": {b: b for b in store.existing_ids("biobank") if scope.owns(b)},
        "collection": {
            c["id"]: c["biobank"] for c in store.records("collection") if scope.owns(c["biobank"])
        },
    }


def record_problems(
    scope: Scope, store: CatalogueStore, kind: str, record: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(field, message) for each reason this person may not save ``record`` (the new
    version; the stored one is checked by the caller): it names a biobank, or a collection,
    they do not administer."""
    if scope.node_wide:
        return []
    if kind in NODE_WIDE_KINDS:
        return [("", scope.node_wide_only(kind))]
    problems = []
    owner = owner_of(kind, record)
    if owner is not None and not scope.owns(owner):
        problems.append(
            (
                "id" if kind == "biobank" else "biobank",
                f"{owner!r} is not a biobank you administer: a record cannot be saved into "
                f"another biobank. {scope.allowed()}",
            )
        )
    for field_name in COLLECTION_FIELDS.get(kind, ()):
        target = record.get(field_name)
        collection = store.get("collection", target) if isinstance(target, str) else None
        if collection is not None and not scope.owns(owner_of("collection", collection)):
            problems.append(
                (
                    field_name,
                    f"collection {target!r} is not in a biobank you administer: a record can "
                    "only be placed under collections of your own biobanks.",
                )
            )
    return problems


def import_problems(
    scope: Scope, store: CatalogueStore, conversion: Conversion, options: Mapping[str, Any]
) -> list[Problem]:
    """Each record of an import this person may not write, located in the source: a
    network, a record whose stored version belongs to another biobank, a record naming a
    biobank or collection they do not administer. Any of them refuses the whole import."""
    if scope.node_wide:
        return []
    problems: list[Problem] = []
    source = conversion.source
    if options.get("biobank") and not scope.owns(options["biobank"]):
        problems.append(
            Problem(
                source,
                "",
                f"{options['biobank']!r} is not a biobank you administer. {scope.allowed()}",
                "biobank",
            )
        )
    if options.get("collection"):
        collection = store.get("collection", options["collection"])
        if collection is not None and not scope.owns(owner_of("collection", collection)):
            problems.append(
                Problem(
                    source,
                    "",
                    f"collection {options['collection']!r} is not in a biobank you administer",
                    "collection",
                )
            )
    document = conversion.document if isinstance(conversion.document, dict) else {}
    stored = {kind: stored_owners(store, kind) for kind in KINDS if kind not in NODE_WIDE_KINDS}
    collections = {  # where each collection an import names sits: in the file, else stored
        **stored["collection"],
        **{
            row["id"]: owner_of("collection", row)
            for row in document.get("collections") or []
            if isinstance(row, dict) and isinstance(row.get("id"), str)
        },
    }
    for section, kind in CATALOGUE_SECTIONS.items():
        rows = document.get(section)
        for i, row in enumerate(rows if isinstance(rows, list) else []):
            if not isinstance(row, dict):
                continue  # the schema check reports it
            rid = row.get("id") if isinstance(row.get("id"), str) else None
            for field_name, message in _row_problems(scope, kind, row, rid, stored, collections):
                at_source, where, path = conversion.where(section, i, rid, field_name)
                problems.append(Problem(at_source, where, message, path))
    return problems


def _row_problems(
    scope: Scope,
    kind: str,
    row: Mapping[str, Any],
    rid: str | None,
    stored: Mapping[str, Mapping[str, str | None]],
    collections: Mapping[str, str | None],
) -> list[tuple[str, str]]:
    """(field, message) for what one import row may not do (see :func:`import_problems`)."""
    label = kind.replace("_", " ")
    if kind in NODE_WIDE_KINDS:
        return [
            (
                "",
                f"{label}s are shared by the whole node: only a node operator may import them; "
                "leave them out of this import",
            )
        ]
    if rid is not None and rid in stored[kind] and not scope.owns(stored[kind][rid]):
        return [
            (
                "id",
                f"{label} {rid!r} at this node belongs to a biobank you do not administer, so "
                "this import may not change it",
            )
        ]
    found = []
    owner = owner_of(kind, row)
    if owner is not None and not scope.owns(owner):
        found.append(
            (
                "id" if kind == "biobank" else "biobank",
                f"{owner!r} is not a biobank you administer; this import may hold records of "
                f"{_ids(scope.biobanks)} only",
            )
        )
    for field_name in COLLECTION_FIELDS.get(kind, ()):
        target = row.get(field_name)
        if (
            isinstance(target, str)
            and target in collections
            and not scope.owns(collections[target])
        ):
            found.append(
                (
                    field_name,
                    f"collection {target!r} is not in a biobank you administer: records can "
                    "only be placed under collections of your own biobanks",
                )
            )
    return found
