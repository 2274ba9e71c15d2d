"""Donors, relations and provenance: the model's checks, the hPSCreg mapping of the real
records, spreadsheet round trips, the derived search fields, the query parts and the node's
certificate-of-analysis endpoint."""

from __future__ import annotations

import copy
import datetime as dt
import html
import json

import pytest

from federation.node.exporter import catalogue_document
from federation.node.importer import import_catalogue, import_files
from federation.node.store import CatalogueStore, store_of
from portal.lineage import coa_links, jsonld_parts, relations
from schemas import schema_for
from schemas.provenance import related_lines
from search.donors import (
    build_several_line_donors,
    donors_phrase,
    read_donors,
    read_several_line_donors,
)
from search.facets import FACETS_BY_NAME
from search.indexer.documents import to_document
from search.queries import SearchParams, build_search, parse_params
from search.relations import read_relatives, relation_clauses
from tests.builders import catalogue, cell_line
from tests.builders.data_files import EBISC_PLACE, hpscreg_records
from tests.builders.round_trip import assert_round_trips

TODAY = dt.date(2026, 12, 1)


def v2(*lines):
    doc = catalogue(*lines)
    doc["schema_version"] = "2"
    return doc


def problems(line):
    """(path, message) of every error the cell-line schema finds in ``line``."""
    from marshmallow import ValidationError

    from schemas.errors import error_items

    try:
        schema_for("cell_line").load(line)
    except ValidationError as exc:
        return error_items(exc.messages)
    return []


EDITED = cell_line(
    "L2-KO",
    genetically_modified=True,
    donor={"sex": "FEMALE", "biosamples_id": "SAMEA3105780", "local_id": "hOSKUL"},
    relations=[
        {"type": "parental_line", "line": "L2"},
        {"type": "isogenic_control", "line": "L2", "note": "the unedited clone"},
    ],
    ethics_approval={
        "authority": "Ethik-Kommission Bonn",
        "number": "275/08",
        "date": "2008-11-03",
        "informed_consent": True,
        "consent_documents_available": True,
    },
    culture_conditions={
        "medium": "mTeSR1",
        "matrix": "Matrigel; feeder-free",
        "passaging": "enzyme-free (EDTA)",
        "o2_percent": 5.0,
        "co2_percent": 5.0,
    },
    lots=[
        {"lot_id": "KO-L1", "certificate_of_analysis": {"file": "KO-L1_CoA.pdf", "passage": 12}},
        {"lot_id": "KO-L2", "certificate_of_analysis": {"url": "https://example.org/coa/KO-L2"}},
    ],
)


# -- the model ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"donor": {"sex": "MALE", "biosamples_id": "12345"}}, "donor.biosamples_id", "BioSamples"),
        ({"donor": {"sex": "MALE", "hpscreg_id": "a b"}}, "donor.hpscreg_id", "hPSCreg donor"),
        ({"relations": [{"type": "cousin", "line": "L2"}]}, "relations[0].type", "one of"),
        ({"relations": [{"type": "subclone"}]}, "relations[0].line", "required"),
        ({"relations": [{"type": "subclone", "line": "L1"}]}, "relations[0].line", "itself"),
        (
            {
                "relations": [
                    {"type": "derivative", "line": "X"},
                    {"type": "derivative", "line": "X"},
                ]
            },
            "relations[1].line",
            "listed twice",
        ),
        (
            {
                "derivation": {"method": "reprogramming_non_integrating", "parent_line": "P1"},
                "relations": [{"type": "parental_line", "line": "P2"}],
            },
            "relations[0].line",
            "derivation.parent_line",
        ),
        ({"ethics_approval": {"number": "275/08"}}, "ethics_approval.number", "authority"),
        ({"ethics_approval": {}}, "ethics_approval", "empty"),
        ({"culture_conditions": {"o2_percent": 120}}, "culture_conditions.o2_percent", "100"),
        (
            {"lots": [{"lot_id": "A", "certificate_of_analysis": {}}]},
            "lots[0].certificate_of_analysis.url",
            "either a url or a file",
        ),
        (
            {"lots": [{"lot_id": "A", "certificate_of_analysis": {"file": "../../etc/x.pdf"}}]},
            "lots[0].certificate_of_analysis.file",
            "PDF file name",
        ),
        (
            {"lots": [{"lot_id": "A", "certificate_of_analysis": {"url": "ftp://x.org/a.pdf"}}]},
            "lots[0].certificate_of_analysis.url",
            "URL",
        ),
    ],
)
def test_bad_donor_relation_and_provenance_values_are_refused_where_they_are(change, path, words):
    found = problems(cell_line("L1", **change))
    assert [p for p, _ in found] == [path], found
    assert words in found[0][1]


def test_a_full_line_is_valid_and_parent_line_counts_as_its_parental_relation():
    assert problems(EDITED) == []
    old_style = cell_line(
        "C1", derivation={"method": "reprogramming_non_integrating", "parent_line": "P1"}
    )
    assert problems(old_style) == []
    assert related_lines(old_style) == [{"type": "parental_line", "line": "P1"}]
    # Both ways of saying it agree, and then it is one relation.
    both = dict(old_style, relations=[{"type": "parental_line", "line": "P1"}])
    assert problems(both) == [] and related_lines(both) == both["relations"]


def test_one_bad_line_stores_nothing_and_the_problem_names_line_and_field(store):
    bad = cell_line("L3", relations=[{"type": "subclone", "line": "L3"}])
    report = import_catalogue(store, v2(cell_line("L2"), EDITED, bad), "c.json")
    assert not report.ok
    assert [str(p) for p in report.problems] == [
        "c.json: cell_lines[2] (id L3): relations[0].line: 'L3' is this line itself"
    ]
    assert store.counts()["cell_line"] == 0


# -- hPSCreg: the real records -----------------------------------------------------------
PLACE = EBISC_PLACE


@pytest.fixture(scope="module")
def records():
    return hpscreg_records()


@pytest.fixture
def imported(store, records):
    assert import_catalogue(store, PLACE, "place.json").ok
    report = import_files(store, records)
    assert report.ok, report.lines()[:5]
    return report, {r["id"]: r for r in store.records("cell_line")}


def test_hpscreg_donor_ids_link_the_lines_of_one_donor(imported, records):
    _, lines = imported
    raw = {json.loads(d)["name"]: json.loads(d) for d in records.values()}
    for name, line in lines.items():
        assert line["donor"]["biosamples_id"] == raw[name]["biosamples_donor_id"]
    assert lines["UKBi002-A"]["donor"]["hpscreg_id"] == "699"
    assert lines["BIONi010-A"]["donor"]["local_id"] == "hOSKUL"
    # internal_donor_id ["1089", "SP08"]: the first is the record's own number, not a donor code
    assert lines["ESi002-A"]["donor"]["local_id"] == "SP08"
    donors: dict[str, list[str]] = {}
    for name, line in sorted(lines.items()):
        donors.setdefault(line["donor"]["biosamples_id"], []).append(name)
    assert [names for names in donors.values() if len(names) > 1] == [["BIONi010-A", "BIONi010-C"]]


def test_hpscreg_ethics_culture_and_reprogramming_are_mapped(imported):
    report, lines = imported
    assert lines["UKBi002-A"]["ethics_approval"] == {
        "authority": "Ethik-Komission Rheinische Friederich-Wilhelms-Universität - Medizinische "
        "Fakultät",
        "number": "275/08",
        "informed_consent": True,
    }
    assert lines["UKKi007-A"]["ethics_approval"]["consent_documents_available"] is True
    assert lines["ESi002-A"]["culture_conditions"] == {
        "medium": "Knockout DMEM + 20% KnockOut Serum Replacement + NEAA + Glutamax + "
        "2-Mercaptoethanol + bFGF",
        "matrix": "gelatine, feeder cells: Human foreskin fibroblasts",
        "passaging": "mechanical",
        "co2_percent": 5.0,
    }
    assert lines["BIONi010-A"]["culture_conditions"]["passaging"] == "enzymatic (DISPASE)"
    assert lines["UKKi008-A"]["derivation"]["vector_detail"] == "sleeping beauty"
    assert lines["UKKi008-A"]["derivation"]["excisable_vector"] is True
    assert (
        lines["ESi004-A"]["derivation"]["vector_detail"] == "Lentivirus expressing CRE recombinase"
    )
    dropped = {source: reason for source, reason in report.mapping.dropped}
    for key in (
        "biosamples_donor_id",
        "donor_id",
        "approval_auth_name",
        "hips_approval_auth_name",
        "approval_number",
        "culture_conditions_medium_culture_medium",
        "surface_coating",
        "passage_method",
        "o2_concentration",
        "excisable_vector_flag",
        "integrating_vector_transposon_type",
    ):
        assert f"hPSCreg.{key}" not in dropped, key
    # What the records cannot give is said, not hidden: a flag without a certificate, and
    # same-donor links to records of lines not among these 20 (RCi001-A, ...).
    assert dropped["hPSCreg.certificate_of_analysis_flag"] == "a flag: no file or link"
    assert dropped["hPSCreg.same_donor_cell_line_id"] == "names a record not in this import"
    assert ("hPSCreg.same_donor_cell_line_id", "donor ids (same donor)") in report.mapping.fields


def test_a_same_donor_link_to_a_record_outside_the_import_is_reported(store, records):
    assert import_catalogue(store, PLACE, "place.json").ok
    [rci] = [name for name in records if name.startswith("RCi001-B")]
    report = import_files(store, {rci: records[rci]})
    assert report.ok
    assert ("hPSCreg.same_donor_cell_line_id", "names a record not in this import") in (
        report.mapping.dropped
    )


def test_a_same_donor_link_gives_a_line_without_donor_ids_the_other_lines(store, records):
    assert import_catalogue(store, PLACE, "place.json").ok
    pair = {n: json.loads(d) for n, d in records.items() if n.startswith("BIONi010-")}
    for data in pair.values():
        if data["name"] == "BIONi010-C":
            data.pop("biosamples_donor_id")
    files = {n: json.dumps(d).encode() for n, d in pair.items()}
    assert import_files(store, files).ok
    assert store.get("cell_line", "BIONi010-C")["donor"]["biosamples_id"] == "SAMEA3105780"


# -- spreadsheets ------------------------------------------------------------------------
def test_donors_relations_and_provenance_round_trip_through_every_export(tmp_path):
    source = CatalogueStore(f"sqlite:///{tmp_path / 'source.sqlite3'}")
    source.create_schema()
    assert import_catalogue(source, v2(cell_line("L2"), EDITED), "c.json").ok
    original = catalogue_document(source)
    assert original["cell_lines"][1]["relations"] == EDITED["relations"]
    assert_round_trips(source, tmp_path)
    source.dispose()


# -- search fields -----------------------------------------------------------------------
def doc_of(line, node="n1"):
    loaded = schema_for("cell_line").load(line)
    return to_document(
        node, "cell_line", loaded, seq=1, content_hash="h", schema_version="2", modified="x"
    )


def test_documents_carry_the_donor_key_relations_and_the_isogenic_flag():
    doc = doc_of(EDITED)
    assert doc["donor_key"] == "biosamples:SAMEA3105780"
    assert doc["related_ids"] == ["l2"]
    assert doc["relation_types"] == ["isogenic_control", "parental_line"]
    assert doc["has_isogenic_control"] is True
    hpscreg_only = doc_of(cell_line("L4", donor={"sex": "MALE", "hpscreg_id": "A01"}))
    assert hpscreg_only["donor_key"] == "hpscreg:A01"
    unknown = doc_of(cell_line("L5", donor={"sex": "MALE", "local_id": "D-17"}))
    assert "donor_key" not in unknown and unknown["has_isogenic_control"] is False


# -- query parts -------------------------------------------------------------------------
def test_donors_with_several_lines_count_distinct_lines():
    body = build_several_line_donors()
    assert body["aggs"]["donors"]["terms"]["min_doc_count"] == 2
    resp = {
        "aggregations": {
            "donors": {
                "buckets": [
                    {"key": "biosamples:SAMEA1", "doc_count": 3, "lines": {"value": 2}},
                    # one line held by two biobanks: one line, not a donor with several
                    {"key": "biosamples:SAMEA2", "doc_count": 2, "lines": {"value": 1}},
                ]
            }
        }
    }
    assert read_several_line_donors(resp) == ("biosamples:SAMEA1",)


def test_the_donor_facet_filters_on_the_keys_the_service_found():
    params = parse_params(_args(donor_lines="true", isogenic="true"))
    bound = SearchParams(**{**params.__dict__, "donor_keys": ("biosamples:SAMEA1",)})
    hits = build_search(bound, TODAY).hits["query"]["bool"]["filter"]
    assert {"terms": {"donor_key": ["biosamples:SAMEA1"]}} in hits
    assert {"term": {"has_isogenic_control": True}} in hits
    # Keys not looked up (or none): the filter matches nothing rather than everything.
    unbound = build_search(params, TODAY).hits["query"]["bool"]["filter"]
    assert {"bool": {"must_not": {"match_all": {}}}} in unbound
    assert FACETS_BY_NAME["donor_lines"].label == "Donor with several lines"


def test_lines_from_donors_is_honest_about_lines_without_a_donor_id():
    counts = {"matching": {"donors": {"value": 9}, "no_donor": {"lines": {"value": 3}}}}
    assert read_donors(counts) == {"donors": 9, "unknown": 3}
    assert (
        donors_phrase(12, read_donors(counts))
        == "12 lines from at least 9 donors (3 lines name no donor)"
    )
    assert donors_phrase(12, {"donors": 9, "unknown": 0}) == "12 lines from 9 donors"
    assert donors_phrase(1, {"donors": 1, "unknown": 0}) == "1 line from 1 donor"
    assert donors_phrase(2, {"donors": 0, "unknown": 2}) == "2 lines; no donor ids published"


def test_an_identified_line_brings_its_relations_and_donor_after_it():
    found = {
        "hits": {
            "hits": [
                {
                    "_source": {
                        "identifiers": ["L2-KO", "BIONi010-C-25"],
                        "donor_key": "biosamples:SAMEA3105780",
                        "related_ids": ["bioni010-c"],
                    }
                }
            ]
        }
    }
    relatives = read_relatives(found)
    related, itself, donor = relation_clauses(["bioni010-c-25"], relatives)
    assert related["constant_score"]["filter"]["bool"]["should"] == [
        {"terms": {"related_ids": ["bioni010-c-25", "l2-ko"]}},
        {"terms": {"identifiers": ["bioni010-c"]}},
    ]
    # The line the identifying request found scores as the line itself (100), the rest below.
    assert itself["constant_score"] == {
        "filter": {"terms": {"identifiers": ["bioni010-c-25", "l2-ko"]}},
        "boost": 100,
    }
    assert donor["constant_score"]["filter"] == {
        "terms": {"donor_key": ["biosamples:SAMEA3105780"]}
    }
    assert related["constant_score"]["boost"] < 100 and donor["constant_score"]["boost"] < 100


def _args(**values):
    from werkzeug.datastructures import MultiDict

    return MultiDict(values)


# -- record pages (pure) -----------------------------------------------------------------
def test_relations_resolve_by_registry_id_anywhere_and_by_local_id_only_at_the_node():
    doc = doc_of(EDITED) | {"uid": "n1:cell_line:L2-KO"}
    here = {"uid": "n1:cell_line:L2", "node_id": "n1", "name": "L2", "identifiers": ["L2"]}
    elsewhere = {"uid": "n2:cell_line:L2", "node_id": "n2", "name": "L2", "identifiers": ["L2"]}
    naming = {
        "uid": "n2:cell_line:KO-CM",
        "node_id": "n2",
        "name": "KO-CM",
        "identifiers": ["KO-CM"],
        "record": {"relations": [{"type": "derived_from", "line": "L2-KO"}]},
    }
    shown = relations(doc, [elsewhere, here], [naming])
    # "L2" is a local id: it means n1's L2; n2's line naming n1's local id is not bound to it.
    assert [(r["type"], r["uid"]) for r in shown] == [
        ("parental_line", "n1:cell_line:L2"),
        ("isogenic_control", "n1:cell_line:L2"),
    ]
    # A registry identifier binds across nodes: n2's derivative of BIONi010-C-25 is listed.
    doc_registry = doc | {"identifiers": ["L2-KO", "BIONi010-C-25"]}
    registry = naming | {
        "record": {"relations": [{"type": "derived_from", "line": "BIONi010-C-25"}]}
    }
    shown = relations(doc_registry, [here], [registry])
    assert ("derivative", "n2:cell_line:KO-CM") in [(r["type"], r["uid"]) for r in shown]


def test_certificates_link_to_the_owning_node_and_into_json_ld():
    doc = doc_of(EDITED)
    links = coa_links(doc, "http://node.example/")
    assert links == [
        {
            "lot_id": "KO-L1",
            "url": "http://node.example/catalogue/lines/L2-KO/lots/KO-L1/coa",
            "form": "PDF",
            "passage": 12,
        },
        {
            "lot_id": "KO-L2",
            "url": "http://node.example/catalogue/lines/L2-KO/lots/KO-L2/coa",
            "form": "link",
            "passage": None,
        },
    ]
    assert [c["url"] for c in coa_links(doc, None)] == [None, None]
    related = {"coa": links, "relations": relations(doc, [], [])}
    props, based_on, documents = jsonld_parts(doc, related, lambda uid: f"/records/{uid}")
    names = {p["name"]: p["value"] for p in props}
    assert names["donor BioSamples accession"] == "SAMEA3105780"
    assert names["ethics approval"] == "Ethik-Kommission Bonn (275/08)"
    assert names["isogenic control"] == "L2"
    assert based_on == [{"@type": "BioSample", "name": "L2", "identifier": "L2"}]
    assert [d["url"] for d in documents] == [c["url"] for c in links]


# -- the node serves certificates --------------------------------------------------------
@pytest.fixture
def coa_node(tmp_path):
    from federation.node.app import create_app

    folder = tmp_path / "coa"
    folder.mkdir()
    (folder / "KO-L1_CoA.pdf").write_bytes(b"%PDF-1.4\n% a certificate\n")
    (folder / "FAKE.pdf").write_bytes(b"<html><script>alert(1)</script>")
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'n.sqlite3'}",
            "NODE_ID": "n1",
            "COA_DIR": str(folder),
        }
    )
    fake = copy.deepcopy(cell_line("L9"))
    fake["lots"] = [{"lot_id": "F1", "certificate_of_analysis": {"file": "FAKE.pdf"}}]
    assert import_catalogue(store_of(app), v2(cell_line("L2"), EDITED, fake), "c.json").ok
    return app


def test_the_node_serves_a_lots_certificate_file_or_sends_to_its_link(coa_node):
    client = coa_node.test_client()
    pdf = client.get("/catalogue/lines/L2-KO/lots/KO-L1/coa")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-")
    assert pdf.headers["Content-Security-Policy"] == "sandbox"
    pdf.close()  # the file is streamed; a server closes it after sending
    link = client.get("/catalogue/lines/L2-KO/lots/KO-L2/coa")
    assert link.status_code == 302 and link.headers["Location"] == "https://example.org/coa/KO-L2"


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/catalogue/lines/NOPE/lots/KO-L1/coa", "no current cell line 'NOPE'"),
        # another line's lot: each line's certificates are its own
        ("/catalogue/lines/L2/lots/KO-L1/coa", "has no lot 'KO-L1'"),
        ("/catalogue/lines/L9/lots/F1/coa", "is not a PDF"),
    ],
)
def test_the_node_serves_no_other_lines_lots_and_nothing_that_is_not_a_pdf(coa_node, path, words):
    resp = coa_node.test_client().get(path)
    assert resp.status_code == 404
    assert words in html.unescape(resp.get_data(as_text=True))


def test_a_withdrawn_line_and_a_node_without_a_coa_folder_serve_no_certificate(coa_node, tmp_path):
    from federation.node.app import create_app

    store_of(coa_node).withdraw("cell_line", "L2-KO")
    assert coa_node.test_client().get("/catalogue/lines/L2-KO/lots/KO-L1/coa").status_code == 404
    bare = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'b.sqlite3'}", "NODE_ID": "n2"})
    assert import_catalogue(store_of(bare), v2(cell_line("L2"), EDITED), "c.json").ok
    client = bare.test_client()
    assert client.get("/catalogue/lines/L2-KO/lots/KO-L1/coa").status_code == 404
    assert client.get("/catalogue/lines/L2-KO/lots/KO-L2/coa").status_code == 302
