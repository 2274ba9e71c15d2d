"""Donors and relations on the real engine: the 20 real hPSCreg records at one node, an
edited clone of one of them and its derivatives at another; filters, "N lines from M
donors", identifier searches that bring the relations after the line, record pages."""

from __future__ import annotations

import html
import json
import re
import uuid
from pathlib import Path

import pytest

from federation.node.formats.sources import read_paths
from portal.app import create_app
from search.aliases import drop_indices
from search.engine import SearchEngine
from tests.builders.data_files import shared

pytestmark = pytest.mark.engine

DONOR = "SAMEA3105780"  # BioSamples donor of BIONi010-A and BIONi010-C (the real records)
EBISC = {
    "schema_version": "2",
    "biobanks": [{"id": "ebisc", "name": "EBiSC", "country": "DE"}],
    "collections": [{"id": "ebisc-ipsc", "biobank": "ebisc", "name": "EBiSC iPSC lines"}],
}


def _line(local_id: str, **fields):
    line = {
        "id": local_id,
        "biobank": "edits",
        "name": local_id,
        "cell_type": "hiPSC",
        "donor": {"sex": "MALE", "biosamples_id": DONOR},
        "availability": "available",
    }
    line.update(fields)
    return line


EDITS = {
    "schema_version": "2",
    "biobanks": [{"id": "edits", "name": "Gene Editing Core", "country": "GB"}],
    "cell_lines": [
        _line(
            "KO-25",
            hpscreg_name="BIONi010-C-1",
            genetically_modified=True,
            modified_genes=["TREM2"],
            relations=[
                {"type": "parental_line", "line": "BIONi010-C"},
                {"type": "isogenic_control", "line": "BIONi010-C", "note": "unedited parent"},
            ],
            lots=[
                {
                    "lot_id": "KO-25-L1",
                    "vials_available": 4,
                    "certificate_of_analysis": {"url": "https://example.org/coa/KO-25-L1.pdf"},
                }
            ],
        ),
        _line(
            "KO-25-CM",
            cell_type="CARDIOMYOCYTE",
            relations=[{"type": "derived_from", "line": "BIONi010-C-1"}],
        ),
        # No donor id: found from the edited clone only through its relation.
        _line(
            "KO-25-NPC",
            cell_type="hiPSC",
            donor={"sex": "MALE"},
            relations=[{"type": "derived_from", "line": "BIONi010-C-1"}],
        ),
    ],
}


def raw_records() -> dict[str, dict]:
    files, problems = read_paths(sorted(shared("ebisc-hpscreg", "hotstart-5").glob("*.json")))
    assert not problems
    return {json.loads(data)["name"]: json.loads(data) for data in files.values()}


@pytest.fixture(scope="module")
def alliance(engine_url, tmp_path_factory):
    """Both nodes served over HTTP and synced by the indexer; the portal's member registry
    names their URLs (certificates are linked there)."""
    from cellfed.serve import serve_in_thread
    from federation.node.app import create_app as create_node_app
    from federation.node.importer import import_catalogue, import_files
    from federation.node.store import store_of
    from federation.registry import Member
    from search.indexer.sync import Indexer

    workdir = Path(tmp_path_factory.mktemp("donors"))
    prefix = f"test-donors-{uuid.uuid4().hex[:8]}-"
    files, _ = read_paths(sorted(shared("ebisc-hpscreg", "hotstart-5").glob("*.json")))
    servers, members = [], []
    try:
        for node_id in ("ebisc", "edits"):
            app = create_node_app(
                {"NODE_ID": node_id, "DATABASE_URL": f"sqlite:///{workdir / node_id}.db"}
            )
            store = store_of(app)
            if node_id == "ebisc":
                assert import_catalogue(store, EBISC, "place.json").ok
                report = import_files(store, files)
            else:
                report = import_catalogue(store, EDITS, "edits.json")
            assert report.ok, report.lines()[:5]
            servers.append(serve_in_thread(app))
            members.append(Member(node_id, node_id.title(), servers[-1].url))
        indexer = Indexer(SearchEngine(engine_url), members, prefix, page_size=50, timeout=5)
        assert all(r.ok and not r.quarantined for r in indexer.sync_all())
    finally:
        for server in servers:
            server.stop()
    registry = workdir / "members.toml"
    registry.write_text(
        "".join(f'[[member]]\nid = "{m.id}"\nname = "{m.name}"\nurl = "{m.url}"\n' for m in members)
    )
    yield prefix, registry, {m.id: m.url for m in members}
    drop_indices(SearchEngine(engine_url), prefix)


@pytest.fixture(scope="module")
def client(engine_url, alliance):
    prefix, registry, _ = alliance
    app = create_app(
        {"SEARCH_URL": engine_url, "INDEX_PREFIX": prefix, "MEMBERS_FILE": str(registry)}
    )
    return app.test_client()


def search(client, query: str) -> dict:
    resp = client.get(f"/api/v1/search?{query}")
    assert resp.status_code == 200, resp.json
    return resp.json


def names(result: dict) -> list[str]:
    return [h["name"] for h in result["hits"]]


def facet_count(result: dict, name: str) -> int:
    [entry] = [f for f in result["facets"] if f["name"] == name]
    return entry["values"][0]["count"]


def test_has_an_isogenic_control_finds_the_edited_clone(client):
    result = search(client, "kind=cell_line&isogenic=true&size=50")
    assert names(result) == ["KO-25"]
    assert facet_count(search(client, "kind=cell_line&size=50"), "isogenic") == 1


def test_donor_with_several_lines_finds_every_line_of_such_a_donor(client):
    raw = raw_records()
    by_donor: dict[str, set[str]] = {}
    for name, record in raw.items():
        by_donor.setdefault(record["biosamples_donor_id"], set()).add(name)
    for line in EDITS["cell_lines"]:
        if line["donor"].get("biosamples_id"):
            by_donor.setdefault(line["donor"]["biosamples_id"], set()).add(line["name"])
    expected = {n for lines in by_donor.values() if len(lines) > 1 for n in lines}
    assert expected >= {"BIONi010-A", "BIONi010-C", "KO-25", "KO-25-CM"}
    result = search(client, "kind=cell_line&donor_lines=true&size=50")
    assert set(names(result)) == expected
    assert facet_count(search(client, "kind=cell_line&size=50"), "donor_lines") == len(expected)


def test_the_header_says_how_many_donors_the_lines_come_from(client):
    raw = raw_records()
    donors = {r["biosamples_donor_id"] for r in raw.values()}
    edits = EDITS["cell_lines"]
    donors |= {x["donor"]["biosamples_id"] for x in edits if "biosamples_id" in x["donor"]}
    without = [x for x in EDITS["cell_lines"] if "biosamples_id" not in x["donor"]]
    lines = len(raw) + len(EDITS["cell_lines"])
    result = search(client, "kind=cell_line")
    assert result["lines"] == lines
    assert result["donors"] == {"donors": len(donors), "unknown": len(without)}
    page = html.unescape(client.get("/?kind=cell_line").get_data(as_text=True))
    assert (
        f"{lines} lines from at least {len(donors)} donors ({len(without)} line names no donor)"
        in page
    )
    # Both filters are in the page's filter form (it works without JavaScript).
    for label, param in (
        ("Has an isogenic control", "isogenic"),
        ("Donor with several lines", "donor_lines"),
    ):
        assert label in page and f'name="{param}"' in page
    # Only lines whose donor is known: exact.
    bion = search(client, "kind=cell_line&donor_lines=true")
    assert bion["donors_phrase"] == f"{bion['lines']} lines from 1 donor"


def test_an_identifier_finds_the_line_then_its_relations_and_nothing_else(client):
    result = search(client, "q=BIONi010-C-1&size=50")
    found = names(result)
    assert found[0] == "KO-25"
    # Its parental line and isogenic control, its derivatives (one has no donor id: only
    # the relation finds it), and the donor's other lines.
    assert set(found[1:]) == {"BIONi010-C", "KO-25-CM", "KO-25-NPC", "BIONi010-A"}
    # A line named by a local id-like code: the lines it names come after it.
    derived = names(search(client, "q=KO-25-NPC&size=50"))
    assert derived[0] == "KO-25-NPC" and "KO-25" in derived[1:]


def test_record_pages_link_donor_relations_and_provenance(client, alliance):
    _, _, urls = alliance
    page = html.unescape(client.get("/records/edits:cell_line:KO-25").get_data(as_text=True))
    assert "Related lines" in page and "Isogenic control" in page and "Parental line" in page
    assert 'href="/records/ebisc:cell_line:BIONi010-C"' in page
    for derivative in ("KO-25-CM", "KO-25-NPC"):
        assert f'href="/records/edits:cell_line:{derivative}"' in page
    assert "Differentiated derivative" in page
    assert 'href="/records/ebisc:cell_line:BIONi010-A"' in page  # same donor
    coa = f"{urls['edits']}/catalogue/lines/KO-25/lots/KO-25-L1/coa"
    assert f'href="{coa}"' in page
    ld = json.loads(
        re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S).group(1)
    )
    assert [b["identifier"] for b in ld["isBasedOn"]] == ["BIONi010-C"]
    assert ld["isBasedOn"][0]["url"].endswith("/records/ebisc:cell_line:BIONi010-C")
    assert {"name": "donor BioSamples accession", "value": DONOR}.items() <= next(
        p for p in ld["additionalProperty"] if p["name"] == "donor BioSamples accession"
    ).items()
    assert coa in [d.get("url") for d in ld["subjectOf"] if isinstance(d, dict)]

    # The parent, from the other end: its edited clone, and the real record's provenance.
    parent = html.unescape(client.get("/records/ebisc:cell_line:BIONi010-C").get_data(as_text=True))
    assert "Isogenic edited clone" in parent and "Subclone" in parent
    assert 'href="/records/edits:cell_line:KO-25"' in parent
    assert "mTeSR1" in parent and "Matrigel".lower() in parent.lower()
    assert "BioSamples donor" in parent and DONOR in parent


def test_a_real_record_with_terms_but_no_duo_permission_has_its_page(client):
    # hPSCreg's usage approval gives commercial use only, no DUO permission.
    page = client.get("/records/ebisc:cell_line:UKBi002-A")
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    assert "Ethik-Komission Rheinische Friederich-Wilhelms-Universität" in text and "275/08" in text
    assert "Permitted use (GA4GH DUO)" not in text
