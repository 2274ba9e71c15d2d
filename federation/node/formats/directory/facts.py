"""The Directory's CollectionFacts table read into each collection's ``facts``.

One row is one fact: sex x age range x sample type x disease -> number of samples and of
donors (schemas/facts.py). ``*`` (or an empty cell) in a dimension means "all" and is left
out. Codes go through our vocabularies (``Young Adult`` -> ``YOUNG_ADULT``,
``urn:miriam:icd:W00`` -> ``ICD10:W00``). Unlike the lenient collection columns, a fact
that cannot be read is a problem located at its row and column, and the import stores
nothing: a count silently dropped would make the collection's figures wrong.

The counts are stored exactly; the node's privacy policy applies when they leave the node
(federation/node/privacy.py). The writer (:func:`facts_csv`) writes the facts it is given,
which in an export are the published ones: a count below k is an empty cell there, with
its "fewer than k" flag in a column of ours (``number_of_donors_below``), which this reader
takes back, so an export imports back to the same published facts.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from marshmallow import ValidationError

from federation.node.formats.directory.codes import DirectoryCodes
from federation.node.formats.directory.emx2 import directory_disease, our_disease
from federation.node.formats.report import Conversion, MappingReport, Problem
from schemas.errors import error_items
from schemas.facts import COUNTS as FACT_COUNTS
from schemas.facts import FactSchema, below, fact_key
from schemas.vocabularies import vocabulary

TABLE = "CollectionFacts.csv"
OWN_CODES = ("MONDO:", "DOID:")
DIMENSIONS: tuple[tuple[str, str, str], ...] = (
    ("sex", "sex", "sexes"),
    ("age_range", "age_band", "age_bands"),
    ("sample_type", "material", "material_types"),
)
"""Directory column, our field, the vocabulary that maps one to the other."""
COUNTS: tuple[tuple[str, str], ...] = tuple((c, c) for c in FACT_COUNTS)
COUNTS += tuple((below(c), below(c)) for c in FACT_COUNTS)
COLUMNS = ["id", "collection", "sex", "age_range", "sample_type", "disease"]
COLUMNS += [c for c, _ in COUNTS] + ["last_update", "national_node"]
COLUMN_OF = {target: col for col, target, _ in DIMENSIONS} | {"diagnosis": "disease"}
USED = {"id", "collection", "disease", "last_update", "national_node"}
USED |= {col for col, _, _ in DIMENSIONS} | {col for col, _ in COUNTS}

_schema = FactSchema()


def _any(value: str) -> bool:
    return value in ("", "*")


def _fact(row: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The fact a row holds and the (column, message) problems of its cells."""
    fact: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for col, target, vocab in DIMENSIONS:
        value = (row.get(col) or "").strip()
        if _any(value):
            continue
        code = vocabulary(vocab).resolve(value)
        if code is None:
            problems.append((col, vocabulary(vocab).problem(value)))
        else:
            fact[target] = code
    disease = (row.get("disease") or "").strip()
    if not _any(disease):
        # MONDO and DOID codes have no Directory spelling: ours is written and read as is.
        code = our_disease(disease) or (disease if disease.startswith(OWN_CODES) else None)
        if code is None:
            problems.append(("disease", f"{disease!r} is not an ICD-10, ORPHA or MONDO code"))
        else:
            fact["diagnosis"] = code
    for col, target in COUNTS:
        value = (row.get(col) or "").strip()
        if value:
            try:
                fact[target] = int(value)
            except ValueError:
                problems.append((col, f"{value!r} is not a whole number"))
    if (row.get("last_update") or "").strip():
        fact["last_update"] = row["last_update"].strip()
    return fact, problems


def _checked(fact: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        _schema.load(fact)
    except ValidationError as exc:
        return [(COLUMN_OF.get(p, p), m) for p, m in error_items(exc.messages)]
    return []


def attach_facts(
    conversion: Conversion, tables: dict[str, list[dict[str, str]]], report: MappingReport
) -> None:
    """Read CollectionFacts into the converted collections, or say where it is wrong."""
    rows = tables.get(TABLE, [])
    collections = {c.get("id"): c for c in conversion.document.get("collections", [])}
    rejected = {rid for kind, rid in conversion.rejected if kind == "collection"}
    seen: dict[tuple[str, tuple], int] = {}
    for number, row in enumerate(rows, start=2):
        owner = (row.get("collection") or "").strip()
        where = f"row {number}" + (f" (id {row['id'].strip()})" if row.get("id") else "")
        fact, problems = _fact(row)
        problems = problems or _checked(fact)
        if owner in rejected:
            continue  # its collection's own problem is reported already
        if owner not in collections:
            problems.append(("collection", f"no collection {owner!r} in Collections.csv"))
        key = (owner, fact_key(fact))
        if not problems and key in seen:
            problems.append(("collection", f"repeats the fact of row {seen[key]}"))
        for col, message in problems:
            conversion.problems.append(Problem(TABLE, where, message, col))
        if problems:
            continue
        seen[key] = number
        collections[owner].setdefault("facts", []).append(fact)
        report.mapped("CollectionFacts", "collections.facts")
        for col in (c for c in row if c is not None and c not in USED):
            report.drop(f"CollectionFacts.{col}", "not in the model", row[col])


def _directory_value(vocab: str, code: str | None) -> str:
    """A code in the Directory's spelling (its first alias, where it has one), ``*`` for all."""
    if code is None:
        return "*"
    term = vocabulary(vocab).get(code)
    return term.aliases[0] if term and term.aliases else code


def facts_csv(collections: list[dict[str, Any]], codes: DirectoryCodes | None = None) -> str:
    """CollectionFacts.csv for these collections' facts, as given (published, in an export).
    With ``codes``, materials are written as the Directory's (IPSC as CELL_LINES); a fact whose
    material has no Directory code is left out and reported there."""
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for collection in collections:
        for i, fact in enumerate(collection.get("facts", []), start=1):
            row: dict[str, Any] = {"id": f"{collection['id']}:fact:{i}"}
            row["collection"] = collection["id"]
            for col, target, vocab in DIMENSIONS:
                row[col] = _directory_value(vocab, fact.get(target))
            material = fact.get("material")
            if codes is not None and material:
                row["sample_type"] = codes.code("CollectionFacts.sample_type", material)
                if not row["sample_type"]:
                    continue
            diagnosis = fact.get("diagnosis")
            row["disease"] = directory_disease(diagnosis) if diagnosis else "*"
            for col, target in COUNTS:
                row[col] = fact.get(target, "")
            row["last_update"] = fact.get("last_update", "")
            writer.writerow(row)
    return out.getvalue()
