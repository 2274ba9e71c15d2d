"""Terms that match at the node, the authority: each item of a part checked against the
project from the node's OWN catalogue record (never the portal's copy), and the guard on
approving.

Approving a part with an incompatible item is refused unless the node's policy allows an
override (``CONSENT_OVERRIDE_ALLOWED``) and the admin writes the reason; the reason is kept
in the approval event's text, so it stands in the audit trail and reaches the researcher.
Approving while a triggered jurisdiction rule's reference is missing is always refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from federation.node.store import CatalogueStore
from schemas.consent import DIMENSIONS
from schemas.item_terms import ItemCheck, check_item, effective_access, verdict_wire
from schemas.lifecycle import MAX_TEXT, TransitionRefused
from schemas.matching import Outcome

OVERRIDE_PREFIX = "Approved although the terms do not match"
AGREEMENT_WORDS = {
    "agrees_to_collaborate": "collaborate with the line's investigators",
    "agrees_to_publish": "publish its results",
    "agrees_to_return_results": "return derived data to the biobank",
}


Read = Callable[[str, str], dict[str, Any] | None]  # (kind, local id) -> record, or None


def item_check(store: CatalogueStore, item: dict[str, Any], project: dict[str, Any]) -> ItemCheck:
    """One requested item against the project, from this node's record of it."""
    return _check(store.get, item, project)


def _check(read: Read, item: dict[str, Any], project: dict[str, Any]) -> ItemCheck:
    record = read(item["kind"], item["id"]) or {}
    collection = None
    if item["kind"] == "cell_line" and record.get("collection"):
        collection = read("collection", record["collection"])
    biobank = read("biobank", record["biobank"]) if record.get("biobank") else None
    access = effective_access(record, collection)
    return check_item(access, (biobank or {}).get("country"), project)


def prefetched(store: CatalogueStore, items: list[dict[str, Any]]) -> Read:
    """The items' records, their collections and biobanks, read in a few queries: a part of
    50 items took 150 single reads, most of its page's time (bench/request_pages.py)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for kind in {item["kind"] for item in items}:
        ids = [item["id"] for item in items if item["kind"] == kind]
        found.update({(kind, i): r for i, r in store.get_many(kind, ids).items()})
    lines = [r for (kind, _), r in found.items() if kind == "cell_line"]
    collections = {r["collection"] for r in lines if r.get("collection")}
    found.update(
        {("collection", i): r for i, r in store.get_many("collection", collections).items()}
    )
    biobanks = {r["biobank"] for r in found.values() if r.get("biobank")}
    found.update({("biobank", i): r for i, r in store.get_many("biobank", biobanks).items()})
    return lambda kind, local_id: found.get((kind, local_id))


def part_checks(store: CatalogueStore, payload: dict[str, Any]) -> list[tuple[dict, ItemCheck]]:
    read = prefetched(store, payload["items"])
    return [(item, _check(read, item, payload["project"])) for item in payload["items"]]


def part_context(
    store: CatalogueStore, payload: dict[str, Any], override_allowed: bool
) -> dict[str, Any]:
    """What the part page shows: each item's verdict and references, and the override."""
    found = part_checks(store, payload)
    return {
        "item_verdicts": [(item, verdict_wire(check)) for item, check in found],
        "any_incompatible": any(c.verdict.outcome is Outcome.INCOMPATIBLE for _, c in found),
        "override_allowed": override_allowed,
        "consent_dimensions": DIMENSIONS,
        "agreements": AGREEMENT_WORDS,
    }


def approval_text(
    store: CatalogueStore,
    payload: dict[str, Any],
    text: str | None,
    override_reason: str | None,
    override_allowed: bool,
) -> str | None:
    """The approval's text, with the override's reason when one is needed; raises
    TransitionRefused when the approval may not be given."""
    found = part_checks(store, payload)
    missing = [
        f"{item['name']}: {r.rule.label} ({r.rule.title})"
        for item, check in found
        for r in check.missing_references
    ]
    if missing:
        raise TransitionRefused(
            "the project gives no reference for " + "; ".join(missing) + ", so it cannot be "
            "approved: ask the researcher for it"
        )
    bad = [item["name"] for item, c in found if c.verdict.outcome is Outcome.INCOMPATIBLE]
    if not bad:
        return text
    names = ", ".join(bad) + (" is" if len(bad) == 1 else " are")
    if not override_allowed:
        raise TransitionRefused(
            f"{names} incompatible with the project's terms, and this node's policy does "
            "not allow approving incompatible items"
        )
    reason = (override_reason or "").strip()
    if not reason:
        raise TransitionRefused(
            f"{names} incompatible with the project's terms: write the reason for "
            "approving it anyway"
        )
    which = ", ".join(bad)
    combined = f"{(text or '').strip()}\n\n{OVERRIDE_PREFIX} ({which}): {reason}".strip()
    if len(combined) > MAX_TEXT:
        raise TransitionRefused(f"the note and the reason together exceed {MAX_TEXT} characters")
    return combined
