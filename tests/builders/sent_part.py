"""A request's part as the portal sends it to a node: Alice's, for the Berlin biobank."""

from __future__ import annotations

from typing import Any

# A request's project as the portal sends it (``schemas.access.ProjectSchema``).
PROJECT = {
    "title": "Cortical organoids",
    "description": "Derive cortical organoids to study neuronal migration defects.",
    "intended_use": "DUO:0000006",
    "disease": None,
    "commercial": False,
    "ethics_ref": "EC-2026-042",
}


def sent_part(
    part_id: str, request_id: str, project: dict[str, Any], items: list[dict[str, Any]]
) -> dict[str, Any]:
    """The wire form (``schemas.access.PartSchema``) of a part at node ``test-node``."""
    return {
        "id": part_id,
        "request_id": request_id,
        "node_id": "test-node",
        "biobank_id": "bb-berlin",
        "biobank_name": "Berlin iPSC Bank",
        "submitted_at": "2026-11-01T10:00:00+00:00",
        "researcher": {
            "iss": "https://idp.example.org",
            "sub": "s1",
            "name": "Alice",
            "email": None,
        },
        "project": project,
        "items": items,
        "attachments": [],
    }
