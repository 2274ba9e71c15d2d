"""What the tests build their data from; fixtures stay in the conftest.py files.

* here: the smallest valid catalogue (schema version 1), one Berlin biobank and collection,
  and ``cell_line`` / ``catalogue`` to fill it; ``Idp``, the value of the ``idp`` fixture;
* ``tests.builders.alliance``: two realistic member nodes in the full (version 2) model and
  ``index_alliance``, which syncs them into a real index, for the discovery tests;
* ``tests.builders.data_files``: ``shared``, the real public data files beside the project.
* ``tests.builders.round_trip``: ``assert_round_trips``, export then import in every format.
* ``tests.builders.portal_app``: ``SqlitePortal`` and ``node_event``, for in-process access tests.
* ``tests.builders.sent_part``: ``sent_part``, a part as the portal sends it to a node.
* ``tests.builders.realm_admin``: ``RealmAdmin``, the identity provider's admin API.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

BIOBANK = {
    "id": "bb-berlin",
    "name": "Berlin iPSC Bank",
    "country": "DE",
    "certifications": [
        {
            "standard": "ISO 20387:2018",
            "body": "DAkkS",
            "certificate_number": "D-BB-20387-01",
            "issued": "2024-03-01",
            "valid_until": "2029-02-28",
            "status": "valid",
        }
    ],
}
COLLECTION = {
    "id": "ipsc-disease",
    "biobank": "bb-berlin",
    "name": "Disease iPSC lines",
    "materials": ["IPSC"],
}


def cell_line(local_id: str, **fields: Any) -> dict[str, Any]:
    """A valid cell line in ``COLLECTION`` of ``BIOBANK``; ``fields`` replace the defaults."""
    line = {
        "id": local_id,
        "biobank": "bb-berlin",
        "collection": "ipsc-disease",
        "name": local_id,
        "cell_type": "hiPSC",
        "donor": {"sex": "FEMALE", "age_range": "50-54", "diseases": []},
        "availability": "available",
        "description": f"iPSC line {local_id} reprogrammed from dermal fibroblasts",
    }
    line.update(fields)
    return line


def catalogue(*lines: dict[str, Any], biobank: dict[str, Any] | None = None) -> dict[str, Any]:
    """A version 1 catalogue of ``lines`` in ``COLLECTION`` (copies, so callers may mutate)."""
    return {
        "schema_version": "1",
        "biobanks": [copy.deepcopy(biobank or BIOBANK)],
        "collections": [copy.deepcopy(COLLECTION)],
        "cell_lines": [copy.deepcopy(line) for line in lines],
    }


@dataclass(frozen=True)
class Idp:
    """The identity provider the ``idp`` fixture yields."""

    issuer: str
    admin_password: str | None  # None: a reused provider whose admin we do not know

    @property
    def base_url(self) -> str:
        return self.issuer.split("/realms/", 1)[0]
