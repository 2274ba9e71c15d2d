"""A node's catalogue as a Directory EMX2 CSV set: the tables ``directory.read`` reads back.

:func:`export` gives each table's text, :func:`export_zip` the set as one zip. The rows
carry the Directory's code spellings (``GB`` -> ``UK``, ``DUO:0000021`` -> ``DUO_0000021``,
``ICD10:C50`` -> ``urn:miriam:icd:C50``), withdrawn records marked ``withdrawn``, and
contacts as Persons rows holding only an e-mail address, a role and a country (their ids
are hashes of those, so the same contact is one person). Cell lines have no place in the
Directory model and are left out. Every code goes through directory/codes.py, so only codes
of the Directory's vocabularies are written; what was changed or left out is the export's
report (:func:`export_with_report`; ``export-report.txt`` in the zip).
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Collection, Iterable
from typing import Any

from federation.node.formats.directory.codes import (
    DirectoryCodes,
    miabis_and_free_capabilities,
    spelled,
)
from federation.node.formats.directory.emx2 import QUALITY_TABLES, directory_disease
from federation.node.formats.directory.facts import TABLE as FACTS_TABLE
from federation.node.formats.directory.facts import facts_csv
from federation.node.formats.report import MappingReport

BIOBANK_COLUMNS = [
    "id",
    "pid",
    "name",
    "acronym",
    "description",
    "url",
    "location",
    "country",
    "latitude",
    "longitude",
    "head",
    "contact",
    "juridical_person",
    "network",
    "also_known",
    "capabilities",
    "collaboration_commercial",
    "collaboration_non_for_profit",
    "national_node",
    "withdrawn",
]
COLLECTION_COLUMNS = [
    "id",
    "name",
    "acronym",
    "description",
    "url",
    "location",
    "country",
    "latitude",
    "longitude",
    "head",
    "contact",
    "national_node",
    "withdrawn",
    "parent_collection",
    "biobank",
    "biobank_label",
    "network",
    "combined_network",
    "also_known",
    "type",
    "data_categories",
    "order_of_magnitude",
    "size",
    "categories",
    "timestamp",
    "number_of_donors",
    "order_of_magnitude_donors",
    "sex",
    "diagnosis_available",
    "age_low",
    "age_high",
    "age_unit",
    "materials",
    "storage_temperatures",
    "body_part_examined",
    "imaging_modality",
    "image_dataset_type",
    "collaboration_commercial",
    "collaboration_non_for_profit",
    "data_use",
    "commercial_use",
    "access_fee",
    "access_joint_project",
    "access_description",
    "access_uri",
    "sop",
    "combined_quality",
]
NETWORK_COLUMNS = [
    "id",
    "name",
    "acronym",
    "description",
    "location",
    "latitude",
    "longitude",
    "also_known",
    "url",
    "juridical_person",
    "contact",
    "parent_network",
    "common_network_elements",
    "national_node",
    "withdrawn",
]
PERSON_COLUMNS = [
    "id",
    "title_before_name",
    "first_name",
    "last_name",
    "title_after_name",
    "email",
    "phone",
    "address",
    "zip",
    "city",
    "country",
    "role",
    "national_node",
    "withdrawn",
]
QUALITY_COLUMNS = (
    "id,{owner},quality_standard,{level},certification_number,certification_report,"
    "certification_image_link,label"
)
DISEASE_COLUMNS = ["order", "name", "label", "parent", "codesystem", "code", "ontologyTermURI"]


class _Writer:
    """What the rows of one export share: the biobanks (a collection is in its biobank's
    country), the withdrawn ids, and the side tables the rows point at, filled as the rows
    are built (a Persons row per contact, quality labels per owner, disease labels)."""

    def __init__(self, document: dict[str, Any], withdrawn: Collection[tuple[str, str]]) -> None:
        self.withdrawn = withdrawn
        self.biobanks = {b["id"]: b for b in document.get("biobanks", [])}
        self.codes = DirectoryCodes()  # every code written goes through it (codes.py)
        self.country_of = {bid: b["country"] for bid, b in self.biobanks.items()}
        self.persons: dict[str, dict[str, str]] = {}
        self.diseases: dict[str, str] = {}
        self.quality: dict[str, list[dict[str, str]]] = {"biobank": [], "collection": []}

    def country(self, table: str, code: str | None) -> str:
        return self.codes.code(f"{table}.country", code)

    def node(self, table: str, code: str | None) -> str:
        """The national node of a record in country ``code`` (ours)."""
        return self.codes.code(f"{table}.national_node", spelled("countries", code or ""))

    def is_withdrawn(self, kind: str, rid: str) -> str:
        return _b((kind, rid) in self.withdrawn)

    def person(self, contact: dict[str, Any] | None, country: str) -> str:
        if not contact:
            return ""
        key = f"{contact['email']}|{contact.get('role', '')}|{contact.get('country', '')}"
        pid = "cellfed:contact:" + hashlib.sha256(key.encode()).hexdigest()[:16]
        self.persons[pid] = {
            "id": pid,
            "email": contact["email"],
            "country": self.country("Persons", contact.get("country")),
            "role": contact.get("role", ""),
            "national_node": country,
            "withdrawn": "false",
        }
        return pid

    def labels(self, owner: str, rid: str, record: dict[str, Any]) -> None:
        rows = [dict(q) for q in record.get("quality_labels", [])]
        for cert in record.get("certifications", []):
            rows.append(
                {
                    "standard": cert["standard"],
                    "assessment_level": cert.get("assessment_level") or "accredited",
                    "certificate_number": cert.get("certificate_number", ""),
                    "report_url": cert.get("report_url", ""),
                }
            )
        table = "QualityInfoBiobanks" if owner == "biobank" else "QualityInfoCollections"
        for n, q in enumerate(rows, start=1):
            standard = self.codes.standard(table, q["standard"])
            level = self.codes.code(f"{table}.assessment_level", q["assessment_level"])
            if not (standard and level):  # both are required: the row cannot be written
                self.codes.report.drop(table, "quality label without a Directory code", rid)
                continue
            self.quality[owner].append(
                {
                    "id": f"cellfed:quality:{rid}:{n}",
                    owner: rid,
                    "quality_standard": standard,
                    "assessment_level": level,
                    "certification_number": q.get("certificate_number", ""),
                    "certification_report": q.get("report_url", ""),
                    "label": q["standard"],
                }
            )


def _b(value: Any) -> str:
    return "" if value is None else ("true" if value else "false")


def _join(values: Iterable[Any]) -> str:
    return ",".join(str(v) for v in values)


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue()


def _network_rows(w: _Writer, networks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for n in networks:
        node = w.node("Networks", n["countries"][0]) if n.get("countries") else ""
        rows.append(
            {
                "id": n["id"],
                "name": n["name"],
                "acronym": n.get("acronym"),
                "description": n.get("description"),
                "url": n.get("url"),
                "juridical_person": n.get("juristic_person"),
                "contact": w.person(n.get("contact"), node),
                "common_network_elements": w.codes.join(
                    "Networks.common_network_elements", n.get("collaboration_topics", [])
                ),
                "national_node": node,
                "withdrawn": w.is_withdrawn("network", n["id"]),
            }
        )
    return rows


def _biobank_rows(w: _Writer, biobanks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for b in biobanks:
        country = w.country("Biobanks", b["country"])
        node = w.node("Biobanks", b["country"])
        rows.append(
            {
                "id": b["id"],
                "pid": b.get("pid"),
                "name": b["name"],
                "acronym": b.get("acronym"),
                "description": b.get("description"),
                "url": b.get("url"),
                "location": b.get("city"),
                "country": country,
                "latitude": b.get("latitude"),
                "longitude": b.get("longitude"),
                "head": w.person(b.get("head"), node),
                "contact": w.person(b.get("contact"), node),
                "juridical_person": b.get("juristic_person"),
                "network": _join(b.get("networks", [])),
                "capabilities": w.codes.join(
                    "Biobanks.capabilities", miabis_and_free_capabilities(b)
                ),
                "collaboration_commercial": _b(b.get("collaboration_commercial")),
                "collaboration_non_for_profit": _b(b.get("collaboration_non_profit")),
                "national_node": node,
                "withdrawn": w.is_withdrawn("biobank", b["id"]),
            }
        )
        w.labels("biobank", b["id"], b)
    return rows


def _collection_rows(w: _Writer, collections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for c in collections:
        for d in c.get("diseases", []):
            w.diseases.setdefault(d["code"], d["label"])
        rows.append(_collection_row(w, c))
        w.labels("collection", c["id"], c)
    return rows


def _collection_row(w: _Writer, c: dict[str, Any]) -> dict[str, Any]:
    country = w.country("Collections", w.country_of.get(c["biobank"]))
    node = w.node("Collections", w.country_of.get(c["biobank"]))
    access = c.get("access") or {}
    duo = [access["duo_permission"]] if access.get("duo_permission") else []
    duo += access.get("duo_modifiers", [])
    donors = c.get("number_of_donors")
    return {
        "id": c["id"],
        "name": c["name"],
        "acronym": c.get("acronym"),
        "description": c.get("description"),
        "url": c.get("url"),
        "country": country,
        "contact": w.person(c.get("contact"), node),
        "national_node": node,
        "withdrawn": w.is_withdrawn("collection", c["id"]),
        "parent_collection": c.get("parent"),
        "biobank": c["biobank"],
        "biobank_label": w.biobanks.get(c["biobank"], {}).get("name"),
        "network": _join(c.get("networks", [])),
        "type": w.codes.join("Collections.type", c.get("types", [])),
        "data_categories": w.codes.join(
            "Collections.data_categories", c.get("data_categories", [])
        ),
        "order_of_magnitude": c.get("order_of_magnitude"),
        "size": c.get("size"),
        "categories": w.codes.join("Collections.categories", c.get("categories", [])),
        "number_of_donors": donors,
        "order_of_magnitude_donors": len(str(donors)) - 1 if donors else None,
        "sex": w.codes.join("Collections.sex", c.get("sex", [])),
        "diagnosis_available": _join(_diseases(w, c)),
        "age_low": c.get("age_low"),
        "age_high": c.get("age_high"),
        "age_unit": w.codes.code("Collections.age_unit", c.get("age_unit")),
        "materials": w.codes.join("Collections.materials", c.get("materials", [])),
        "storage_temperatures": w.codes.join(
            "Collections.storage_temperatures", c.get("storage_temperatures", [])
        ),
        "data_use": w.codes.join("Collections.data_use", duo),
        "commercial_use": _b(access.get("commercial_use")),
        "access_fee": "samples" if access.get("fee") else "",
        "access_joint_project": "samples" if access.get("joint_project") else "",
        "access_description": access.get("description"),
        "access_uri": access.get("access_uri"),
        "sop": w.codes.join("Collections.sop", c.get("sops", [])),
    }


def _diseases(w: _Writer, c: dict[str, Any]) -> list[str]:
    """ICD-10 and Orphanet codes, the two the Directory's disease table has; others left out."""
    out = []
    for d in c.get("diseases", []):
        if d["code"].startswith(("ICD10:", "ORPHA:")):
            out.append(directory_disease(d["code"]))
        else:
            w.codes.report.drop("Collections.diagnosis_available", "not ICD-10 or ORPHA", d["code"])
    return out


def _quality_rows(w: _Writer, owner: str, level: str) -> list[dict[str, Any]]:
    """The owner's quality labels, the assessment level under this table's column name."""
    return [{**q, level: q["assessment_level"]} for q in w.quality[owner]]


def _disease_rows(w: _Writer) -> list[dict[str, Any]]:
    return [
        {
            "name": directory_disease(code),
            "label": label,
            "codesystem": "ICD-10" if code.startswith("ICD10:") else code.split(":")[0].lower(),
            "code": code.split(":", 1)[1] if code.startswith("ICD10:") else code,
        }
        for code, label in sorted(w.diseases.items())
    ]


def export(
    document: dict[str, Any], withdrawn: Collection[tuple[str, str]] = frozenset()
) -> dict[str, str]:
    """The Directory's CSV tables (file name -> text) for a catalogue document. Cell lines
    have no place in the Directory model and are left out (export JSON or XLSX for them)."""
    return export_with_report(document, withdrawn)[0]


def export_with_report(
    document: dict[str, Any], withdrawn: Collection[tuple[str, str]] = frozenset()
) -> tuple[dict[str, str], MappingReport]:
    """The tables, and what of the codes was changed or left out to fit the Directory's
    vocabularies (directory/codes.py)."""
    w = _Writer(document, withdrawn)
    # The main tables first, in this order: they fill the side tables (persons, quality).
    tables = {
        "Networks.csv": _csv(NETWORK_COLUMNS, _network_rows(w, document.get("networks", []))),
        "Biobanks.csv": _csv(BIOBANK_COLUMNS, _biobank_rows(w, document.get("biobanks", []))),
        "Collections.csv": _csv(
            COLLECTION_COLUMNS, _collection_rows(w, document.get("collections", []))
        ),
        "Persons.csv": _csv(PERSON_COLUMNS, list(w.persons.values())),
    }
    for table, owner, level in QUALITY_TABLES:
        columns = QUALITY_COLUMNS.format(owner=owner, level=level).split(",")
        tables[table] = _csv(columns, _quality_rows(w, owner, level))
    tables["ontologies/DiseaseTypes.csv"] = _csv(DISEASE_COLUMNS, _disease_rows(w))
    tables[FACTS_TABLE] = facts_csv(document.get("collections", []), w.codes)  # directory/facts.py
    return tables, w.codes.report


REPORT_FILE = "export-report.txt"
"""In the zip beside the tables: the codes changed or left out (an import ignores it)."""


def export_zip(
    document: dict[str, Any], withdrawn: Collection[tuple[str, str]] = frozenset()
) -> bytes:
    tables, report = export_with_report(document, withdrawn)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in tables.items():
            archive.writestr(name, text)
        if not report.empty:
            archive.writestr(REPORT_FILE, "\n".join(report.lines()) + "\n")
    return buffer.getvalue()
