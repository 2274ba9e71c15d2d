"""Terms that match at the node, the authority: each item of a part checked against the
project from the node's OWN catalogue record (never the portal's copy), and the guard on
approving.

Approving a part with an incompatible item is refused unless the node's policy allows an
override (``CONSENT_OVERRIDE_ALLOWED``) and the admin writes the reason; the reason is kept
in the approval event's text, so it stands in the audit trail and reaches the researcher.
Approving while a triggered jurisdiction rule's reference is missing is always refused.
"""

from __future__ import annotations

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


def item_check(store: CatalogueStore, item: dict[str, Any], project: dict[str, Any]) -> ItemCheck:
    """One requested item against the project, from this node's record of it."""
    record = store.get(item["kind"], item["id"]) or {}
    collection = None
    if item["kind"] == "cell_line" and record.get("collection"):
        collection = store.get("collection", record["collection"])
    biobank = store.get("biobank", record["biobank"]) if record.get("biobank") else None
    access = effective_access(record, collection)
    return check_item(access, (biobank or {}).get("country"), project)


def part_checks(store: CatalogueStore, payload: dict[str, Any]) -> list[tuple[dict, ItemCheck]]:
    return [(item, item_check(store, item, payload["project"])) for item in payload["items"]]


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
