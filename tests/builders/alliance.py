"""Catalogues in the full (schema version 2) model for the discovery tests.

Two member nodes hold a small but realistic alliance: a line banked at both (H9, matched by
its hPSCreg name), QC results that pass, fail and go stale, DUO terms on lines and on a
collection, lots with vials, networks, ICD-10 and Orphanet diseases, an accreditation that
holds and one that expired.
"""

from __future__ import annotations

import copy
from typing import Any

from federation.node.store import store_of
from tests.builders import cell_line


def qc(attribute: str, result: str, date: str | None = None, **extra: Any) -> dict[str, Any]:
    entry = {"attribute": attribute, "method": extra.pop("method", "standard assay")}
    entry["result"] = result
    if date:
        entry["date"] = date
    entry.update(extra)
    return entry


def access(permission: str, commercial: bool, *modifiers: str) -> dict[str, Any]:
    return {
        "duo_permission": permission,
        "duo_modifiers": list(modifiers),
        "commercial_use": commercial,
    }


def lot(lot_id: str, vials: int | None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"lot_id": lot_id, **extra}
    if vials is not None:
        entry["vials_available"] = vials
    return entry


def certification(until: str, status: str = "valid", standard: str = "ISO 20387:2018") -> dict:
    return {
        "standard": standard,
        "body": "National accreditation body",
        "certificate_number": f"CERT-{until}",
        "issued": "2019-01-01",
        "valid_until": until,
        "status": status,
    }


NETWORKS = [
    {"id": "eu-ipsc", "name": "European iPSC Network"},
    {"id": "uk-stem", "name": "UK Stem Cell Network"},
]


def berlin() -> dict[str, Any]:
    """A German bank with a valid ISO 20387 accreditation."""
    lines = [
        cell_line(
            "BIONi010-A",
            name="BIONi010-A",
            hpscreg_name="BIONi010-A",
            description="Parkinson patient iPSC line reprogrammed with Sendai virus",
            donor={
                "sex": "MALE",
                "age_range": "60-64",
                "diseases": [{"code": "ICD10:G20", "label": "Parkinson disease"}],
            },
            derivation={"method": "reprogramming_non_integrating", "vector": "Sendai"},
            qc=[
                qc("MYCOPLASMA", "negative", "2024-05-01", method="PCR"),
                qc("STERILITY", "pass", "2024-05-01"),
                qc("KARYOTYPE", "normal", "2024-04-01", method="G-banding"),
            ],
            karyotype={"result": "46,XY", "normal": True, "method": "G_banding"},
            str_profile={"loci": {"TH01": "6,9"}, "verified": True},
            lots=[lot("L1", 10, frozen_date="2024-03-01"), lot("L2", 5)],
            storage={"temperature": "temperatureLNvapour"},
            access=access("DUO:0000006", True),
        ),
        cell_line(
            "WAe009-A",
            name="H9 (WAe009-A)",
            hpscreg_name="WAe009-A",
            synonyms=["H9", "WA09"],
            cell_type="hESC",
            description="Human embryonic stem cell line H9, a female reference line",
            donor={"sex": "FEMALE", "age_range": "EMBRYO", "diseases": []},
            derivation={"method": "embryo_derived"},
            # Negative once, positive on the latest test: not mycoplasma negative now.
            qc=[
                qc("MYCOPLASMA", "negative", "2021-01-10"),
                qc("MYCOPLASMA", "positive", "2023-02-01"),
            ],
            karyotype={"result": "46,XX", "normal": True},
            lots=[lot("H9-1", 3)],
        ),
        cell_line(
            "UKKi011-A",
            name="UKKi011-A",
            hpscreg_name="UKKi011-A",
            description="Huntington disease iPSC line with an isogenic HTT correction",
            donor={
                "sex": "FEMALE",
                "age_range": "30-34",
                "diseases": [{"code": "ORPHA:399", "label": "Huntington disease"}],
            },
            genetically_modified=True,
            modified_genes=["HTT"],
            modifications=[{"type": "isogenic", "gene": "HTT"}],
            qc=[qc("MYCOPLASMA", "negative", "2024-01-01")],
            karyotype={"result": "47,XX,+12", "normal": False},
            availability="expand_to_order",
        ),
    ]
    return {
        "schema_version": "2",
        "networks": copy.deepcopy(NETWORKS[:1]),
        "biobanks": [
            {
                "id": "bb-berlin",
                "name": "Berlin iPSC Bank",
                "country": "DE",
                "networks": ["eu-ipsc"],
                "certifications": [certification("2099-12-31")],
            }
        ],
        "collections": [
            {
                "id": "ipsc-disease",
                "biobank": "bb-berlin",
                "name": "Disease iPSC lines",
                "materials": ["IPSC"],
                "storage_temperatures": ["temperatureLN"],
                "diseases": [{"code": "ICD10:G20", "label": "Parkinson disease"}],
                # Lines without their own terms are offered on these.
                "access": access("DUO:0000042", False, "DUO:0000046"),
            }
        ],
        "cell_lines": lines,
    }


def london() -> dict[str, Any]:
    """A British bank whose accreditation expired, holding H9 too."""
    lines = [
        cell_line(
            "H9-LON",
            name="H9",
            biobank="bb-london",
            collection="hesc",
            hpscreg_name="WAe009-A",
            cellosaurus_ac="CVCL_9773",
            cell_type="hESC",
            description="H9 embryonic stem cells distributed from London",
            donor={"sex": "FEMALE", "age_range": "EMBRYO", "diseases": []},
            qc=[qc("MYCOPLASMA", "negative", "2024-06-01")],
            lots=[lot("LON-H9-A", 20)],
            access=access("DUO:0000004", True),
        ),
        cell_line(
            "HPSI0114i-kolf_2",
            name="HPSI0114i-kolf_2",
            biobank="bb-london",
            collection="hesc",
            cellosaurus_ac="CVCL_AE29",
            synonyms=["kolf2"],
            description="Healthy donor iPSC line widely used for gene editing",
            donor={"sex": "MALE", "age_range": "55-59", "diseases": []},
            qc=[qc("IDENTITY_STR", "pass", "2023-01-01"), qc("STERILITY", "negative")],
            lots=[lot("K2-1", 60)],
            access=access("DUO:0000042", False),
        ),
        cell_line(
            "MSC-LON-1",
            name="MSC-LON-1",
            biobank="bb-london",
            collection="hesc",
            cell_type="MSC",
            description="Bone marrow mesenchymal stromal cells from a patient with hip arthrosis",
            donor={
                "sex": "FEMALE",
                "age_range": "70-74",
                "diseases": [{"code": "ICD10:M16.1", "label": "Other primary coxarthrosis"}],
            },
            availability="not_available",
        ),
    ]
    return {
        "schema_version": "2",
        "networks": copy.deepcopy(NETWORKS),
        "biobanks": [
            {
                "id": "bb-london",
                "name": "London Stem Cell Bank",
                "country": "GB",
                "networks": ["eu-ipsc", "uk-stem"],
                "certifications": [certification("2020-06-30")],
            }
        ],
        "collections": [{"id": "hesc", "biobank": "bb-london", "name": "Reference lines"}],
        "cell_lines": lines,
    }


def index_alliance(
    engine_url: str, prefix: str, workdir: Any, catalogues: dict[str, Any] | None = None
) -> None:
    """Serve both catalogues (or ``catalogues``, node id → catalogue) from real member nodes
    over HTTP and sync them into the index behind ``prefix``; the nodes stop once the indexer
    has pulled their feeds."""
    from pathlib import Path

    from cellfed.serve import serve_in_thread
    from federation.node.app import create_app as create_node_app
    from federation.node.importer import import_catalogue
    from federation.registry import Member
    from search.engine import SearchEngine
    from search.indexer.sync import Indexer

    servers, members = [], []
    try:
        for node_id, data in (catalogues or {"berlin": berlin(), "london": london()}).items():
            app = create_node_app(
                {"NODE_ID": node_id, "DATABASE_URL": f"sqlite:///{Path(workdir) / node_id}.db"}
            )
            report = import_catalogue(store_of(app), data, f"{node_id}.json")
            assert report.ok, report.lines()
            servers.append(serve_in_thread(app))
            members.append(Member(node_id, node_id.title(), servers[-1].url))
        indexer = Indexer(SearchEngine(engine_url), members, prefix, page_size=50, timeout=5)
        reports = indexer.sync_all()
        assert all(r.ok and not r.quarantined for r in reports), [r.summary() for r in reports]
    finally:
        for server in servers:
            server.stop()
