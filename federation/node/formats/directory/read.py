"""A Directory export (the EMX2 CSV set) read into a catalogue document and a mapping report.

Reads ``Biobanks.csv`` and ``Collections.csv`` (required) with ``Networks.csv``,
``Persons.csv``, ``QualityInfoBiobanks.csv``, ``QualityInfoCollections.csv`` and
``ontologies/DiseaseTypes.csv`` (for disease labels) when present, as files, a folder or a
zip.

Mapping choices (each is counted in the mapping report):

* codes go through the vocabularies, so the Directory's spellings map to ours: ``UK`` ->
  ``GB``, ``PHYSIOLOGICAL_BIOCHEMICAL_MEASUREMENTS`` -> ``PHYSIOLOGICAL_BIOCHEMICAL``,
  ``DUO_0000021`` -> ``DUO:0000021``, ``urn:miriam:icd:C50`` -> ``ICD10:C50``;
* a record the Directory marks ``withdrawn`` is stored withdrawn (a tombstone in the feed,
  its content kept for a restore), so the node holds all 649 biobanks and 3,586 collections
  and publishes only the live ones;
* values the model refuses (negative ages, birth years given as ages, broken URLs) are left
  out one by one and reported; a ``size`` that contradicts ``order_of_magnitude`` (the
  Directory's required size class) is left out; ages without a unit are taken as years;
* **personal data** (Persons.csv): names, titles, phone numbers and postal addresses are
  never stored. An e-mail address is kept only when it is a role mailbox (``info@``,
  ``biobank@`` ...); a personal one is replaced by a pseudonym
  ``contact-<12 hex>@pseudonymised.invalid``: HMAC-SHA256 of the Directory person id under
  the node's ``PSEUDONYM_KEY``, so a re-import gives the same records, the pseudonym cannot
  be reversed without the key, and the reserved ``.invalid`` domain cannot reach anyone.
  The contact keeps the person's role and country.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import re
from typing import Any

from marshmallow import ValidationError, validate

import federation.node.formats.directory.labels as labels
from federation.node.formats.cleaning import load_leniently
from federation.node.formats.directory.emx2 import (
    DROPPED,
    QUALITY_TABLES,
    REQUIRED,
    our_disease,
)
from federation.node.formats.directory.facts import attach_facts
from federation.node.formats.limits import Budget, TooLarge
from federation.node.formats.report import Conversion, MappingReport, Problem
from federation.node.formats.sources import Files
from schemas import SCHEMA_VERSION
from schemas.vocabularies import Term, vocabulary

PSEUDONYM_DOMAIN = "pseudonymised.invalid"
ROLE_MAILBOX = re.compile(
    r"^(info|contact|office|biobank|biobanking|bbmri|secretariat|sekretariat|secretary|admin|"
    r"enquiries|inquiries|support|helpdesk|service|mail|post|kontakt|desk|request|requests|"
    r"access|samples|team|management|coordination|coordinator|lab|laboratory)([._-][a-z]+)*@",
    re.IGNORECASE,
)
DUO_SPECIFICITY = ("DUO:0000007", "DUO:0000011", "DUO:0000006", "DUO:0000042", "DUO:0000004")
"""When the Directory lists several DUO permissions, the most specific one is kept."""


def looks_like(files: Files) -> bool:
    return labels.looks_like(files)


def _tables(
    files: Files,
    budget: Budget,
    found: dict[str, str] | None = None,
    matches: dict[str, list[tuple[str, str, str]]] | None = None,
) -> tuple[dict[str, list[dict[str, str]]], list[Problem]]:
    """The tables by their Directory names; ``found`` gets table -> file name, ``matches``
    file name -> how its columns matched (directory/labels.py)."""
    tables: dict[str, list[dict[str, str]]] = {}
    found = {} if found is None else found
    matches = {} if matches is None else matches
    model, problems = labels.read_model(files)
    for name, data in files.items():
        table = labels.table_of(name)
        if table is None:
            continue
        if table in found:
            problems.append(Problem(name, "", f"{found[table]} is already the {table} table"))
            continue
        found[table] = name
        reader = None
        try:
            text = data.decode("utf-8-sig")
            reader = csv.DictReader(budget.lines(name, text))
            budget.row(name, 1, reader.fieldnames or [])
            reader.fieldnames, how = labels.match_header(table, reader.fieldnames or [], model)
            matches[name] = how
            problems += labels.duplicates(name, how)
            rows = []
            for number, row in enumerate(reader, start=2):
                # DictReader puts the cells beyond the header in a list under the key None.
                rest = row.get(None)
                extra: list[str] = rest if isinstance(rest, list) else []
                budget.row(name, number, [v for k, v in row.items() if k is not None] + extra)
                rows.append(row)
            tables[table] = rows
        except UnicodeDecodeError as exc:
            problems.append(Problem(name, "", f"not UTF-8 text (byte {exc.start})"))
        except TooLarge as exc:
            problems.append(exc.problem)
        except csv.Error as exc:
            if "field larger than field limit" in str(exc) and reader is not None:
                problems.append(budget.long_cell(name, f"line {reader.line_num}"))
            else:
                problems.append(Problem(name, "", f"not readable as CSV: {exc}"))
    for table in REQUIRED:
        if table not in tables and not problems:
            problems.append(Problem(table, "", "missing: a Directory export needs it"))
    return tables, problems


class _Mapper:
    """Builds records from Directory rows, counting what maps and what does not."""

    def __init__(self, tables: dict[str, list[dict[str, str]]], key: str) -> None:
        self.tables = tables
        self.key = key.encode()
        self.report = MappingReport()
        self.persons = {p.get("id", ""): p for p in tables.get("Persons.csv", [])}
        # Personal addresses also turn up in free text (one biobank's juristic person is an
        # e-mail address): wherever a known one appears, its pseudonym replaces it.
        self.pseudonyms = {
            (p.get("email") or "").strip().lower(): self.pseudonym(pid)
            for pid, p in self.persons.items()
            if "@" in (p.get("email") or "") and not self.role_mailbox(p["email"].strip())
        }
        self.personal = (
            re.compile(
                "|".join(re.escape(e) for e in sorted(self.pseudonyms, key=len, reverse=True)),
                re.IGNORECASE,
            )
            if self.pseudonyms
            else None
        )
        self.labels = {
            r.get("name", ""): r.get("label", "") for r in tables.get("DiseaseTypes.csv", [])
        }
        self.network_ids = {r.get("id", "") for r in tables.get("Networks.csv", [])}
        self.quality: dict[str, list[dict[str, Any]]] = {}
        for table, owner, level in QUALITY_TABLES:
            for row in tables.get(table, []):
                label = {
                    "standard": row.get("quality_standard", "").strip(),
                    "assessment_level": row.get(level, "").strip(),
                    "certificate_number": row.get("certification_number", "").strip(),
                    "report_url": row.get("certification_report", "").strip(),
                }
                self.quality.setdefault(row.get(owner, ""), []).append(
                    {k: v for k, v in label.items() if v}
                )
                self.report.mapped(f"{table[:-4]}", f"{owner}.quality_labels")

    def pseudonym(self, person_id: str) -> str:
        digest = hmac.new(self.key, person_id.encode(), hashlib.sha256).hexdigest()[:12]
        return f"contact-{digest}@{PSEUDONYM_DOMAIN}"

    @staticmethod
    def role_mailbox(email: str) -> bool:
        return bool(ROLE_MAILBOX.match(email)) or email.endswith("@" + PSEUDONYM_DOMAIN)

    # -- values ------------------------------------------------------------------------
    def scrub(self, value: str) -> str:
        """``value`` with every known personal e-mail address replaced by its pseudonym."""
        if "@" not in value or self.personal is None:
            return value
        return self.personal.sub(lambda m: self.pseudonyms[m.group(0).lower()], value)

    def text(self, row: dict, table: str, col: str, rec: dict, target: str) -> None:
        value = (row.get(col) or "").strip()
        scrubbed = self.scrub(value)
        if scrubbed != value:
            self.report.value(target, "a personal e-mail address", "its pseudonym")
            value = scrubbed
        if value:
            rec[target] = value
            self.report.mapped(f"{table}.{col}", target)

    def url(self, row: dict, table: str, col: str, rec: dict, target: str) -> None:
        value = (row.get(col) or "").strip()
        if not value:
            return
        if self.scrub(value) != value:
            self.report.drop(f"{table}.{col}", "holds a personal e-mail address")
            return
        try:
            validate.URL()(value)
        except ValidationError:
            self.report.drop(f"{table}.{col}", "not a web address", value)
            return
        rec[target] = value
        self.report.mapped(f"{table}.{col}", target)

    def flag(self, row: dict, table: str, col: str, rec: dict, target: str) -> None:
        value = (row.get(col) or "").strip().lower()
        if value in ("true", "false"):
            rec[target] = value == "true"
            self.report.mapped(f"{table}.{col}", target)
        elif value:
            self.report.drop(f"{table}.{col}", "neither true nor false", value)

    def number(self, row: dict, table: str, col: str, rec: dict, target: str, kind=int) -> None:
        value = (row.get(col) or "").strip().replace(",", ".")
        if not value:
            return
        try:
            rec[target] = kind(float(value)) if kind is int else kind(value)
            if kind is int and float(value) != rec[target]:
                raise ValueError
        except ValueError:
            rec.pop(target, None)
            self.report.drop(f"{table}.{col}", "not a number", value)
            return
        self.report.mapped(f"{table}.{col}", target)

    def codes(self, row: dict, table: str, col: str, rec: dict, target: str, vocab: str) -> None:
        out = []
        for value in _split(row.get(col)):
            code = vocabulary(vocab).resolve(value)
            if code is None:
                self.report.drop(f"{table}.{col}", f"not in the {vocab} vocabulary", value)
                continue
            if code != value:
                self.report.value(target, value, code)
            if code not in out:
                out.append(code)
        if out:
            rec[target] = out
            self.report.mapped(f"{table}.{col}", target)

    def country(self, value: str, source: str) -> str | None:
        code = vocabulary("countries").resolve(value.strip()) if value.strip() else None
        if code and code != value:
            self.report.value("country", value, code)
        return code

    def contact(self, person_id: str, source: str, fallback_role: str) -> dict[str, Any] | None:
        person_id = (person_id or "").strip()
        if not person_id:
            return None
        person = self.persons.get(person_id)
        if person is None:
            self.report.drop(source, "no such person in Persons.csv", person_id)
            return None
        email = (person.get("email") or "").strip()
        if not email:
            self.report.drop(source, "the person has no e-mail address", person_id)
            return None
        if self.role_mailbox(email):
            self.report.mapped(f"{source} -> Persons.email", "contact.email (role mailbox kept)")
        else:
            email = self.pseudonym(person_id)
            self.report.mapped(f"{source} -> Persons.email", "contact.email (pseudonym)")
        contact: dict[str, Any] = {"email": email, "role": fallback_role}
        role = (person.get("role") or "").strip()
        if role:
            contact["role"] = role[:100].strip()
        country = self.country(person.get("country") or "", "Persons.country")
        if country:
            contact["country"] = country
        return contact

    def diseases(self, row: dict, rec: dict) -> None:
        out = []
        for value in _split(row.get("diagnosis_available")):
            code = our_disease(value)
            if code is None:
                self.report.drop("Collections.diagnosis_available", "not ICD-10 or ORPHA", value)
                continue
            found = self.labels.get(value) or vocabulary("diseases").get(code)
            label = found.label if isinstance(found, Term) else found
            if not label:
                self.report.note("diseases without a label in DiseaseTypes.csv carry their code")
                label = code
            out.append({"code": code, "label": label[:300]})
        if out:
            rec["diseases"] = out
            self.report.mapped("Collections.diagnosis_available", "diseases", len(out))

    def dropped_columns(self, row: dict, table: str, used: set[str]) -> None:
        for col, value in row.items():
            if col in used or col is None or not (value or "").strip():
                continue
            reason = DROPPED.get(f"{table}.{col}") or DROPPED.get(
                col, "no place for it in the model"
            )
            self.report.drop(f"{table}.{col}", reason)

    # -- records -----------------------------------------------------------------------
    def network(self, row: dict) -> dict[str, Any]:
        t = "Networks"
        rec: dict[str, Any] = {}
        for col, target in (
            ("id", "id"),
            ("name", "name"),
            ("acronym", "acronym"),
            ("description", "description"),
            ("juridical_person", "juristic_person"),
        ):
            self.text(row, t, col, rec, target)
        self.url(row, t, "url", rec, "url")
        node = self.country(row.get("national_node") or "", "Networks.national_node")
        if node:
            rec["countries"] = [node]
            self.report.mapped("Networks.national_node", "countries")
        contact = self.contact(row.get("contact", ""), "Networks.contact", "network contact")
        if contact:
            rec["contact"] = contact
        topics = _split(row.get("common_network_elements"))
        if topics:
            rec["collaboration_topics"] = topics
            self.report.mapped("Networks.common_network_elements", "collaboration_topics")
        used = {"id", "name", "acronym", "description", "juridical_person", "url"}
        used |= {"national_node", "contact", "common_network_elements", "withdrawn"}
        self.dropped_columns({k: v for k, v in row.items() if k != "national_node"}, t, used)
        return rec

    def biobank(self, row: dict) -> dict[str, Any]:
        t = "Biobanks"
        rec: dict[str, Any] = {}
        for col, target in (
            ("id", "id"),
            ("pid", "pid"),
            ("name", "name"),
            ("acronym", "acronym"),
            ("description", "description"),
            ("location", "city"),
            ("juridical_person", "juristic_person"),
        ):
            self.text(row, t, col, rec, target)
        self.url(row, t, "url", rec, "url")
        country = self.country(row.get("country") or "", "Biobanks.country")
        if country:
            rec["country"] = country
            self.report.mapped("Biobanks.country", "country")
        elif (row.get("country") or "").strip():
            rec["country"] = row["country"].strip()  # the schema will say what is wrong
        self.number(row, t, "latitude", rec, "latitude", float)
        self.number(row, t, "longitude", rec, "longitude", float)
        for col in ("contact", "head"):
            contact = self.contact(row.get(col, ""), f"Biobanks.{col}", col)
            if contact:
                rec[col] = contact
        networks = [n for n in _split(row.get("network")) if n in self.network_ids]
        for missing in set(_split(row.get("network"))) - set(networks):
            self.report.drop("Biobanks.network", "no such network in Networks.csv", missing)
        if networks:
            rec["networks"] = networks
            self.report.mapped("Biobanks.network", "networks")
        capabilities = _split(row.get("capabilities"))
        if capabilities:
            rec["capabilities"] = capabilities
            self.report.mapped("Biobanks.capabilities", "capabilities")
        self.flag(row, t, "collaboration_commercial", rec, "collaboration_commercial")
        self.flag(row, t, "collaboration_non_for_profit", rec, "collaboration_non_profit")
        if self.quality.get(rec.get("id", "")):
            rec["quality_labels"] = self.quality[rec["id"]]
        used = {"id", "pid", "name", "acronym", "description", "location", "juridical_person"}
        used |= {"url", "country", "latitude", "longitude", "contact", "head", "network"}
        used |= {"capabilities", "collaboration_commercial", "collaboration_non_for_profit"}
        self.dropped_columns(row, t, used | {"withdrawn"})
        return rec

    def collection(self, row: dict) -> dict[str, Any]:
        t = "Collections"
        rec: dict[str, Any] = {}
        for col, target in (
            ("id", "id"),
            ("name", "name"),
            ("acronym", "acronym"),
            ("description", "description"),
            ("biobank", "biobank"),
            ("parent_collection", "parent"),
        ):
            self.text(row, t, col, rec, target)
        self.url(row, t, "url", rec, "url")
        contact = self.contact(row.get("contact", ""), "Collections.contact", "contact")
        if contact:
            rec["contact"] = contact
        for col, target, vocab in (
            ("type", "types", "collection_types"),
            ("data_categories", "data_categories", "data_categories"),
            ("categories", "categories", "collection_categories"),
            ("materials", "materials", "material_types"),
            ("storage_temperatures", "storage_temperatures", "storage_temperatures"),
            ("sex", "sex", "sexes"),
        ):
            self.codes(row, t, col, rec, target, vocab)
        networks = [n for n in _split(row.get("network")) if n in self.network_ids]
        if networks:
            rec["networks"] = networks
            self.report.mapped("Collections.network", "networks")
        for col in ("order_of_magnitude", "size", "number_of_donors", "age_low", "age_high"):
            self.number(row, t, col, rec, col)
        self._size(rec)
        self._ages(row, rec)
        self.diseases(row, rec)
        self._access(row, rec)
        sops = _split(row.get("sop"))
        if sops:
            rec["sops"] = sops
            self.report.mapped("Collections.sop", "sops")
        if self.quality.get(rec.get("id", "")):
            rec["quality_labels"] = self.quality[rec["id"]]
        used = {"id", "name", "acronym", "description", "biobank", "parent_collection", "url"}
        used |= {"contact", "type", "data_categories", "categories", "materials", "sex"}
        used |= {"storage_temperatures", "network", "order_of_magnitude", "size", "sop"}
        used |= {"number_of_donors", "age_low", "age_high", "age_unit", "diagnosis_available"}
        used |= {"data_use", "commercial_use", "access_fee", "access_joint_project"}
        used |= {"access_description", "access_uri", "withdrawn"}
        self.dropped_columns(row, t, used)
        return rec

    def _size(self, rec: dict) -> None:
        size, magnitude = rec.get("size"), rec.get("order_of_magnitude")
        if size and magnitude is not None and not 10**magnitude <= size < 10 ** (magnitude + 1):
            self.report.drop(
                "Collections.size",
                "contradicts order_of_magnitude, the Directory's required size class",
                f"{size} vs 10^{magnitude}",
            )
            del rec["size"]

    def _ages(self, row: dict, rec: dict) -> None:
        unit = (row.get("age_unit") or "").strip()
        if "age_low" not in rec and "age_high" not in rec:
            if unit:
                self.report.drop("Collections.age_unit", "no ages given")
            return
        if not unit:
            unit = "YEAR"
            self.report.value("age_unit", "", "YEAR")
        term = vocabulary("age_units").get(vocabulary("age_units").resolve(unit) or "")
        if term is None:
            self.report.drop("Collections.age_unit", "not one age unit", unit)
            rec.pop("age_low", None)
            rec.pop("age_high", None)
            return
        for col in ("age_low", "age_high"):
            age = rec.get(col)
            if age is not None and not 0 <= age <= term.extra["max"]:
                self.report.drop(f"Collections.{col}", f"not an age in {term.code}", age)
                del rec[col]
        low, high = rec.get("age_low"), rec.get("age_high")
        if low is not None and high is not None and low > high:
            self.report.drop(
                "Collections.age_low", "above age_high (birth years?)", f"{low}-{high}"
            )
            del rec["age_low"], rec["age_high"]
        if "age_low" in rec or "age_high" in rec:
            rec["age_unit"] = term.code
            self.report.mapped("Collections.age_unit", "age_unit")

    def _access(self, row: dict, rec: dict) -> None:
        access: dict[str, Any] = {}
        self.flag(row, "Collections", "commercial_use", access, "commercial_use")
        permissions, modifiers = [], []
        duo = vocabulary("duo")
        for value in _split(row.get("data_use")):
            code = duo.resolve(value)
            term = duo.get(code) if code else None
            if term is None:
                self.report.drop(
                    "Collections.data_use",
                    "a DUO research-type term, not a permission or modifier",
                    value,
                )
            elif term.extra["kind"] == "permission":
                permissions.append(code)
            else:
                modifiers.append(code)
        if permissions:
            ranked = sorted(permissions, key=DUO_SPECIFICITY.index)
            chosen = ranked[0]
            if chosen == "DUO:0000007":
                diseases = [d["code"] for d in rec.get("diseases", [])]
                if diseases:
                    access["duo_diseases"] = diseases
                    self.report.note(
                        "disease-specific use (DUO:0000007) is limited to the collection's "
                        "diagnoses"
                    )
                else:
                    self.report.drop(
                        "Collections.data_use", "disease-specific without diseases", chosen
                    )
                    ranked = ranked[1:]
                    chosen = ranked[0] if ranked else None
            for other in ranked[1:]:
                self.report.drop(
                    "Collections.data_use", "one DUO permission is kept, the most specific", other
                )
            if chosen:
                access["duo_permission"] = chosen
                self.report.mapped("Collections.data_use", "access.duo_permission")
        if modifiers:
            access["duo_modifiers"] = modifiers
            self.report.mapped("Collections.data_use", "access.duo_modifiers")
        for col, target in (("access_fee", "fee"), ("access_joint_project", "joint_project")):
            if _split(row.get(col)):
                access[target] = True
                self.report.mapped(f"Collections.{col}", f"access.{target} (yes/no)")
        self.text(row, "Collections", "access_description", access, "description")
        self.url(row, "Collections", "access_uri", access, "access_uri")
        if "commercial_use" in access:
            rec["access"] = access
        elif access:
            for key in access:
                self.report.drop(f"Collections.access ({key})", "access terms need commercial_use")


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def convert(
    files: Files, pseudonym_key: str, source: str | None = None, budget: Budget | None = None
) -> Conversion:
    """Map a Directory export onto catalogue records, all of them checked leniently; the
    tables are read within the import's ``budget`` (federation/node/formats/limits.py)."""
    source = source or "Directory export"
    conversion = Conversion(source, "directory", {"schema_version": SCHEMA_VERSION})
    found: dict[str, str] = {}
    matches: dict[str, list[tuple[str, str, str]]] = {}
    tables, conversion.problems = _tables(files, budget or Budget(), found, matches)
    if conversion.problems:
        return conversion
    mapper = _Mapper(tables, pseudonym_key)
    conversion.mapping = mapper.report
    labels.report(mapper.report, matches, files)
    mapper.report.note(
        "Persons.csv: names, titles, phone numbers and postal addresses are not stored; "
        "personal e-mail addresses are replaced by keyed pseudonyms "
        f"(contact-<hmac>@{PSEUDONYM_DOMAIN}), role mailboxes are kept"
    )
    origins: dict[tuple[str, int], tuple[str, int]] = {}
    for section, kind, table, build in (
        ("networks", "network", "Networks.csv", mapper.network),
        ("biobanks", "biobank", "Biobanks.csv", mapper.biobank),
        ("collections", "collection", "Collections.csv", mapper.collection),
    ):
        out = conversion.document.setdefault(section, [])
        for number, row in enumerate(tables.get(table, []), start=2):
            rec = build(row)
            origin = {k: f"{table[:-4]}.{k}" for k in rec}
            loaded, errors = load_leniently(kind, rec, origin, mapper.report)
            rid = rec.get("id")
            where = f"row {number}" + (f" (id {rid})" if rid else "")
            for path, message in errors:
                conversion.problems.append(Problem(found[table], where, message, path))
            if loaded is None:
                if isinstance(rid, str):
                    conversion.rejected.add((kind, rid))
                continue
            origins[(section, len(out))] = (table, number)
            if (row.get("withdrawn") or "").strip().lower() == "true":
                conversion.withdrawn.add((kind, loaded["id"]))
            out.append(rec)
    attach_facts(conversion, tables, mapper.report)  # formats/directory/facts.py
    withdrawn = len(conversion.withdrawn)
    if withdrawn:
        mapper.report.note(
            f"{withdrawn} records marked withdrawn in the Directory are kept withdrawn "
            "(tombstones in the feed, restorable)"
        )

    def locate(section: str, i: int, rid: str | None, path: str) -> tuple[str, str, str]:
        table, number = origins[(section, i)]
        return found[table], f"row {number}" + (f" (id {rid})" if rid else ""), path

    conversion.locate = locate
    return conversion
