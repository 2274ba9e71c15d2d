"""hPSCreg cell-line records (the registry's JSON export, one object per line) -> cell lines.

Each record becomes one cell line of a biobank and collection of this node: named by the
import (``biobank``, ``collection``), or the node's only biobank and its only collection.
A file may hold one record or a list of them; several files may be given.

What maps: identity (hPSCreg name, BioSamples id, alternative names), cell type, source
cell type (Cell Ontology id into ``tissue_source``), donor sex, age band and disease
(Orphanet / DOID codes from the record's ontology links), derivation (integrating or not,
vector, reprogramming genes, GMP / xeno-free / clinical-grade flags), genetic modification,
karyotype (result, method, passage; normal when it reads 46,XX / 46,XY / "normal"), STR
profile, QC results (mycoplasma and virology screening, pluripotency markers by
immunostaining, flow cytometry or RT-PCR, three-germ-layer differentiation), availability
and commercial use. The depositors' contact details (``providers``: names, e-mail
addresses, phone numbers, postal addresses) are personal data and are never read.
Everything else is counted in the mapping report as left out.
"""

from __future__ import annotations

import re
from typing import Any

from federation.node.formats.cleaning import load_leniently
from federation.node.formats.hpscreg_provenance import (
    culture,
    donor_ids,
    ethics,
    reprogramming,
    same_donor_links,
)
from federation.node.formats.report import Conversion, Problem
from schemas import SCHEMA_VERSION

MARKERS = ("name", "type_name")
"""Keys every hPSCreg record carries; with one of SIGNS it is told from our own format."""
SIGNS = ("source_platform", "biosamples_donor_id", "gender_primary_cell", "validation_status")

CELL_TYPES = {"hiPSC": "hiPSC", "hESC": "hESC", "iPSC": "hiPSC", "ESC": "hESC"}
SEXES = {"male": "MALE", "female": "FEMALE"}
VECTORS = {
    "sendai_virus": "Sendai",
    "episomal": "episomal",
    "mrna": "mRNA",
    "lentivirus": "lentivirus",
    "retrovirus": "retrovirus",
    "piggybac": "piggyBac",
    "transposon": "piggyBac",
    "other": "other",
}
KARYOTYPE_METHODS = {"g_banding": "G_banding", "snp_array": "SNP_array", "other": "other"}
SCREENING = {
    "virology_screening_mycoplasma_result": "MYCOPLASMA",
    "virology_screening_hiv_1_result": "VIRUS_HIV1",
    "virology_screening_hiv_2_result": "VIRUS_HIV2",
    "virology_screening_hbv_result": "VIRUS_HBV",
    "virology_screening_hcv_result": "VIRUS_HCV",
}
MARKER_ASSAYS = {
    "undiff_immstain_marker": "immunostaining",
    "undiff_facs_marker": "flow cytometry",
    "undiff_rtpcr_marker": "RT-PCR",
}
DISEASE_LINKS = (
    (re.compile(r"Orphanet_(\d+)$"), "ORPHA:{}"),
    (re.compile(r"DOID_(\d+)$"), "DOID:{}"),
)
NORMAL_KARYOTYPE = re.compile(r"^(46,?\s*X[XY]|normal)$", re.IGNORECASE)
PERSONAL = ("providers",)


def looks_like(data: Any) -> bool:
    items = data if isinstance(data, list) else [data]
    return bool(items) and all(
        isinstance(d, dict) and all(k in d for k in MARKERS) and any(k in d for k in SIGNS)
        for d in items
    )


def _flag(record: dict[str, Any], key: str) -> bool | None:
    value = record.get(key)
    if not isinstance(value, (str, int)):
        return None
    if isinstance(value, bool):
        return value
    return {"1": True, "0": False, 1: True, 0: False}.get(value)


def _genes(items: Any) -> list[str]:
    """``"5460###POU5F1###entrez_id###id_type_gene"`` -> ``POU5F1``."""
    genes = []
    for item in items or []:
        parts = str(item).split("###")
        name = parts[1] if len(parts) > 1 else parts[0]
        if name and name not in genes:
            genes.append(name[:30])
    return genes


def _markers(items: Any) -> tuple[list[str], int]:
    """Positive markers and how many were tested, from ``"nanog###+"`` or
    ``"###+###POU5F1###entrez_id###id_type_gene"``."""
    positive, tested = [], 0
    for item in items or []:
        parts = str(item).split("###")
        if len(parts) == 2:
            name, outcome = parts
        elif len(parts) >= 3:
            outcome, name = parts[1], parts[2]
        else:
            continue
        if outcome in ("+", "-"):
            tested += 1
        if outcome == "+" and name:
            positive.append(name.upper()[:50])
    return positive, tested


def _passage(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class _Line:
    def __init__(self, raw: dict[str, Any], conversion: Conversion) -> None:
        self.raw = raw
        self.report = conversion.mapping
        self.used: set[str] = set()

    def take(self, key: str, target: str, many: bool = False) -> Any:
        """The value at ``key`` as text (or, with ``many``, a list of texts); a value of
        another shape is left out and reported, never trusted."""
        value = self.raw.get(key)
        self.used.add(key)
        if value in (None, "", [], {}):
            return None
        if many and isinstance(value, str):
            value = [value]
        if many and isinstance(value, list):
            texts = [str(v) for v in value if isinstance(v, (str, int, float))]
            if len(texts) < len(value):
                self.report.drop(f"hPSCreg.{key}", "items that are not text")
            if texts:
                self.report.mapped(f"hPSCreg.{key}", target)
            return texts or None
        if not many and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            self.report.mapped(f"hPSCreg.{key}", target)
            return str(value).strip()
        self.report.drop(f"hPSCreg.{key}", "not the expected shape (text or list)")
        return None

    def build(self, biobank: str, collection: str | None) -> dict[str, Any]:
        name = self.take("name", "id, name, hpscreg_name")
        line: dict[str, Any] = {"id": name, "name": name, "hpscreg_name": name}
        line["biobank"] = biobank
        if collection:
            line["collection"] = collection
        if biosamples := self.take("biosamples_id", "biosamples_id"):
            line["biosamples_id"] = biosamples
        if synonyms := self.take("alternate_name", "synonyms", many=True):
            line["synonyms"] = [str(s).strip()[:200] for s in synonyms if str(s).strip()]
        type_name = self.take("type_name", "cell_type")
        line["cell_type"] = CELL_TYPES.get(type_name, type_name)
        if type_name and type_name in CELL_TYPES and CELL_TYPES[type_name] != type_name:
            self.report.value("cell_type", type_name, CELL_TYPES[type_name])
        self._source_cells(line)
        line["donor"] = self._donor()
        donor_ids(self, line["donor"])
        for key, part in (("ethics_approval", ethics(self)), ("culture_conditions", culture(self))):
            if part:
                line[key] = part
        # The registry's record number and same-donor link: resolved across the import.
        self.used |= {"id", "same_donor_cell_line_flag", "same_donor_cell_line_id"}
        self.used |= {"comparator_cell_line_id", "comparator_cell_line_type"}  # the same link
        if self.raw.get("certificate_of_analysis_flag") == "1":
            self.report.drop("hPSCreg.certificate_of_analysis_flag", "a flag: no file or link")
        self.used |= {"certificate_of_analysis_flag", "certificate_of_analysis_passage_number"}
        self._derivation(line)
        self._genetics(line)
        line["qc"] = self._qc()
        available = _flag(self.raw, "available_flag")
        self.used.add("available_flag")
        line["availability"] = "available" if available else "not_available"
        self.report.mapped("hPSCreg.available_flag", "availability")
        self._access(line)
        if reference := self.take("registration_reference", "description"):
            line["description"] = f"Registered in hPSCreg. Reference: {reference}"[:5000]
        return line

    def _source_cells(self, line: dict[str, Any]) -> None:
        label = self.take("primary_celltype_ont_name", "tissue_source") or self.take(
            "primary_celltype_name", "tissue_source"
        )
        link = self.take("primary_celltype_purl", "tissue_source (Cell Ontology id)") or ""
        link = link or self.take("primary_celltype_ont_id", "tissue_source (Cell Ontology id)")
        match = re.search(r"CL_(\d{7})$", link or "")
        if label:
            line["tissue_source"] = (f"{label} (CL:{match.group(1)})" if match else str(label))[
                :200
            ]
        if label and match:  # the same term, structured (MIABIS SAMPLE-05)
            line["source_tissue"] = {"code": f"CL:{match.group(1)}", "label": str(label)[:200]}
        # hPSCreg registers human pluripotent stem-cell lines only (MIABIS SAMPLE-12).
        line.update(sample_source="human", species="NCBITaxon:9606")

    def _donor(self) -> dict[str, Any]:
        sex = self.take("gender_primary_cell", "donor.sex")
        donor: dict[str, Any] = {"sex": SEXES.get(str(sex).lower(), "UNKNOWN")}
        age = self.take("donor_age", "donor.age_range")
        if age and re.fullmatch(r"\d{1,2}-\d{1,2}|\d{2}\+", str(age)):
            donor["age_range"] = age
        elif age:
            self.report.drop("hPSCreg.donor_age", "not an age band", age)
        affected = _flag(self.raw, "disease_flag")
        self.used.add("disease_flag")
        if affected is not None:
            donor["affected"] = affected
        name = self.take("disease_doid_name", "donor.diseases[].label")
        link = self.take("disease_purl", "donor.diseases[].code") or ""
        doid = self.take("disease_doid", "donor.diseases[].code")
        if affected and name:
            code = None
            for pattern, template in DISEASE_LINKS:
                if m := pattern.search(link):
                    code = template.format(m.group(1))
                    break
            if code is None and doid and re.fullmatch(r"DOID:\d+", str(doid)):
                code = str(doid)
            if code:
                donor["diseases"] = [{"code": code, "label": str(name)[:300]}]
            else:
                self.report.drop("hPSCreg.disease_purl", "no Orphanet or DOID code", link)
        return donor

    def _derivation(self, line: dict[str, Any]) -> None:
        kind = self.take("vector_type", "derivation.method")
        if kind not in ("integrating", "non_integrating"):
            if kind:
                self.report.drop("hPSCreg.vector_type", "unknown vector type", kind)
            return
        derivation: dict[str, Any] = {"method": f"reprogramming_{kind}"}
        if kind == "integrating":
            vector = self.take("integrating_vector_virus_type", "derivation.vector") or self.take(
                "integrating_vector", "derivation.vector"
            )
            genes = self.take("integrating_vector_gene_list", "derivation.factors", many=True)
            self.used.add("integrating_vector")
        else:
            vector = self.take("non_integrating_vector", "derivation.vector")
            genes = self.take("non_integrating_vector_gene_list", "derivation.factors", many=True)
        if vector:
            mapped = VECTORS.get(str(vector).lower())
            if mapped:
                derivation["vector"] = mapped
                if mapped != vector:
                    self.report.value("derivation.vector", str(vector), mapped)
            else:
                self.report.drop("hPSCreg vector", "not a known vector", vector)
        if factors := _genes(genes):
            derivation["factors"] = factors
        for key, target in (
            ("derivation_xeno_graft_free_flag", "xeno_free"),
            ("derivation_gmp_ips_flag", "gmp"),
            ("available_clinical_grade_ips_flag", "clinical_grade"),
        ):
            self.used.add(key)
            if (flag := _flag(self.raw, key)) is not None:
                derivation[target] = flag
                self.report.mapped(f"hPSCreg.{key}", f"derivation.{target}")
        reprogramming(self, derivation)
        line["derivation"] = derivation

    def _genetics(self, line: dict[str, Any]) -> None:
        self.used.add("genetic_modification_flag")
        line["genetically_modified"] = bool(_flag(self.raw, "genetic_modification_flag"))
        self.report.mapped("hPSCreg.genetic_modification_flag", "genetically_modified")
        result = self.take("karyotyping_karyotype", "karyotype.result")
        if result:
            karyotype: dict[str, Any] = {
                "result": str(result)[:200],
                "normal": bool(NORMAL_KARYOTYPE.match(str(result).strip())),
            }
            method = self.take("karyotyping_method", "karyotype.method")
            if method in KARYOTYPE_METHODS:
                karyotype["method"] = KARYOTYPE_METHODS[method]
            passage = _passage(self.take("karyotyping_number_passages", "karyotype.passage"))
            if passage is not None:
                karyotype["passage"] = passage
            line["karyotype"] = karyotype
        loci = {}
        for item in self.take("fingerprinting", "str_profile.loci", many=True) or []:
            parts = str(item).split("###")
            if len(parts) >= 2 and parts[0]:
                loci[parts[0][:30]] = ",".join(p for p in parts[1:] if p)[:30]
        if loci:
            line["str_profile"] = {"loci": loci}

    def _qc(self) -> list[dict[str, Any]]:
        qc = []
        for key, attribute in SCREENING.items():
            result = self.take(key, f"qc[{attribute}]")
            self.used.add(key.replace("_result", "_flag"))
            if result in ("negative", "positive", "not_done"):
                qc.append(
                    {"attribute": attribute, "method": "as reported to hPSCreg", "result": result}
                )
            elif result:
                self.report.drop(f"hPSCreg.{key}", "not negative, positive or not_done", result)
        for key, method in MARKER_ASSAYS.items():
            positive, tested = _markers(self.take(key, "qc[PLURIPOTENCY_MARKERS]", many=True))
            passage = _passage(self.raw.get(f"{key}_passage_number"))
            self.used.add(f"{key}_passage_number")
            if tested:
                item: dict[str, Any] = {
                    "attribute": "PLURIPOTENCY_MARKERS",
                    "method": method,
                    "result": "pass" if positive else "fail",
                    "markers": positive,
                }
                if passage is not None:
                    item["passage"] = passage
                qc.append(item)
        for flag, method in (
            ("embryoid_body_differentiation_flag", "embryoid body"),
            ("teratoma_formation_differentiation_flag", "teratoma"),
            ("spontaneous_differentiation_flag", "spontaneous differentiation"),
        ):
            self.used.add(flag)
            if _flag(self.raw, flag):
                prefix = flag.replace("_differentiation_flag", "").replace(
                    "_formation", "_formation"
                )
                layers = [_flag(self.raw, f"{prefix}_{g}_flag") for g in ("ekto", "endo", "meso")]
                self.used |= {f"{prefix}_{g}_flag" for g in ("ekto", "endo", "meso")}
                qc.append(
                    {
                        "attribute": "TRILINEAGE",
                        "method": method,
                        "result": "pass"
                        if all(layers)
                        else "not_done"
                        if not any(layers)
                        else "fail",
                    }
                )
                self.report.mapped(f"hPSCreg.{flag}", "qc[TRILINEAGE]")
        return qc

    def _access(self, line: dict[str, Any]) -> None:
        usage = self.take("usage_approval_flag", "access.commercial_use", many=True) or []
        if "commercial" in usage:
            line["access"] = {"commercial_use": True}
        elif "research_only" in usage:
            line["access"] = {"commercial_use": False}


def convert(
    parsed: dict[str, Any],
    biobank: str | None = None,
    collection: str | None = None,
    existing: dict[str, dict[str, str]] | None = None,
) -> Conversion:
    """``parsed``: file name -> decoded JSON. ``existing``: the node's collections by id,
    mapped to their biobank (to place lines when the import does not say where)."""
    source = ", ".join(sorted(parsed))
    conversion = Conversion(source, "hpscreg", {"schema_version": SCHEMA_VERSION})
    biobank, collection = _place(biobank, collection, existing or {})
    if not biobank:
        conversion.problems.append(
            Problem(
                source,
                "",
                "say which biobank of this node holds these lines (and, optionally, which "
                "collection)",
                "biobank",
            )
        )
        return conversion
    conversion.document["cell_lines"] = []
    origins: dict[int, tuple[str, str]] = {}
    raws: list[dict[str, Any]] = []
    for name, data in parsed.items():
        items = data if isinstance(data, list) else [data]
        for n, raw in enumerate(items):
            where = f"record {n + 1}" if isinstance(data, list) else ""
            if _add_line(conversion, raw, (biobank, collection), (name, where), origins):
                raws.append(raw)
    same_donor_links(conversion.document["cell_lines"], raws, conversion.mapping)

    def locate(section: str, i: int, rid: str | None, path: str) -> tuple[str, str, str]:
        name, where = origins[i]
        return name, f"{where} (id {rid})".strip() if rid else where, path

    conversion.locate = locate
    return conversion


def _place(
    biobank: str | None, collection: str | None, existing: dict[str, dict[str, str]]
) -> tuple[str | None, str | None]:
    """The biobank and collection the lines go to: as named (a collection names its
    biobank), else the node's only biobank and, if it has only one, its collection."""
    collections = existing.get("collection", {})
    biobanks = sorted(existing.get("biobank", {}))
    if collection and not biobank:
        biobank = collections.get(collection)
    if not biobank and len(biobanks) == 1:
        biobank = biobanks[0]
        in_biobank = [c for c, b in collections.items() if b == biobank]
        collection = collection or (in_biobank[0] if len(in_biobank) == 1 else None)
    return biobank, collection


def _add_line(
    conversion: Conversion,
    raw: Any,
    place: tuple[str, str | None],
    origin: tuple[str, str],
    origins: dict[int, tuple[str, str]],
) -> bool:
    """One hPSCreg record as a cell line of the document, if it loads (then True); ``origin``
    is its (file, "record n") and goes into ``origins`` under the line's index."""
    name, where = origin
    if not looks_like(raw):
        conversion.problems.append(
            Problem(name, where, "not an hPSCreg cell-line record (needs name, type_name)")
        )
        return False
    builder = _Line(raw, conversion)
    line = builder.build(*place)
    for key in sorted(set(raw) - builder.used - set(PERSONAL)):
        if raw[key] not in (None, "", [], {}):
            conversion.mapping.drop(f"hPSCreg.{key}", "no place for it in the model")
    if raw.get("providers"):
        conversion.mapping.drop("hPSCreg.providers", "depositors' personal contact data")
    source_fields = {k: f"hPSCreg.{k}" for k in line}
    loaded, errors = load_leniently("cell_line", line, source_fields, conversion.mapping)
    rid = f"(id {line.get('id')})"
    for path, message in errors:
        conversion.problems.append(Problem(name, f"{where} {rid}".strip(), message, path))
    lines = conversion.document["cell_lines"]
    if loaded is not None:
        origins[len(lines)] = origin
        lines.append(line)
        return True
    if isinstance(line.get("id"), str):
        conversion.rejected.add(("cell_line", line["id"]))
    return False
