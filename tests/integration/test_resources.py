"""Research resources on the real engine: two member nodes over HTTP, the indexer, the portal.

EBiSC is named by lines at both nodes and by a collection at one, so its page spans biobanks;
StemBANCC is named differently by the two nodes, which the page shows rather than hides."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from portal.app import create_app
from search.aliases import drop_indices
from search.engine import SearchEngine
from tests.builders.alliance import berlin, index_alliance, london

pytestmark = pytest.mark.engine

EBISC = {
    "id": "ebisc",
    "name": "European Bank for induced pluripotent Stem Cells",
    "acronym": "EBiSC",
    "url": "https://ebisc.org",
}
STEMBANCC = {"id": "stembancc", "name": "StemBANCC", "url": "https://stembancc.org"}


def catalogues() -> dict:
    b, lo = berlin(), london()
    for line in b["cell_lines"][:2]:
        line["research_resources"] = [EBISC]
    lo["cell_lines"][0]["research_resources"] = [EBISC, STEMBANCC]
    lo["collections"][0]["research_resources"] = [EBISC]
    b["cell_lines"][2]["research_resources"] = [
        {**STEMBANCC, "name": "Stem cells for biological assays"}
    ]
    return {"berlin": b, "london": lo}


@pytest.fixture(scope="module")
def client(engine_url, tmp_path_factory):
    prefix = f"test-res-{uuid.uuid4().hex[:8]}-"
    index_alliance(engine_url, prefix, tmp_path_factory.mktemp("resources"), catalogues())
    yield create_app({"SEARCH_URL": engine_url, "INDEX_PREFIX": prefix}).test_client()
    drop_indices(SearchEngine(engine_url), prefix)


def expected_lines(node_id_pairs):
    return {f"{node}:cell_line:{line['id']}" for node, line in node_id_pairs}


def test_the_resource_spans_both_nodes_with_its_counts_and_lines(client):
    cats = catalogues()
    resp = client.get("/api/v1/resources/ebisc")
    assert resp.status_code == 200, resp.json
    res = resp.json
    assert (res["name"], res["acronym"], res["url"]) == (
        EBISC["name"],
        EBISC["acronym"],
        EBISC["url"],
    )
    assert (res["lines"], res["collections"]) == (3, 1)
    assert {n["node_id"]: n["records"] for n in res["nodes"]} == {"berlin": 2, "london": 2}
    assert {b["uid"] for b in res["biobanks"]} == {
        "berlin:biobank:bb-berlin",
        "london:biobank:bb-london",
    }
    lines = [("berlin", x) for x in cats["berlin"]["cell_lines"][:2]]
    lines.append(("london", cats["london"]["cell_lines"][0]))
    assert {x["uid"] for x in res["shown_lines"]} == expected_lines(lines)
    assert res["notes"] == []

    page = client.get("/resources/ebisc")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for uid in expected_lines(lines) | {"berlin:biobank:bb-berlin", "london:biobank:bb-london"}:
        assert f'href="/records/{uid}"' in html
    [ld] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    ld = json.loads(ld)
    assert (ld["@type"], ld["identifier"], ld["alternateName"]) == (
        "ResearchProject",
        "ebisc",
        "EBiSC",
    )


def test_a_name_the_nodes_disagree_on_is_shown_with_a_note(client):
    res = client.get("/api/v1/resources/stembancc").json
    names = {v["name"]: v["nodes"] for v in res["variants"]}
    assert names == {"StemBANCC": ["london"], "Stem cells for biological assays": ["berlin"]}
    assert res["name"] == res["variants"][0]["name"]  # the first seen
    [note] = res["notes"]  # both state the same url
    assert "disagree on the name" in note and "(berlin)" in note and "(london)" in note
    html = client.get("/resources/stembancc").get_data(as_text=True)
    assert "disagree on the name" in html


def test_the_list_names_every_resource_once(client):
    listed = client.get("/api/v1/resources").json["resources"]
    assert [r["id"] for r in listed] == ["ebisc", "stembancc"]
    html = client.get("/resources").get_data(as_text=True)
    assert 'href="/resources/ebisc"' in html and 'href="/resources/stembancc"' in html


def test_the_facet_filters_and_counts_by_resource(client):
    result = client.get("/api/v1/search?kind=cell_line&resource=ebisc").json
    cats = catalogues()
    lines = [("berlin", x) for x in cats["berlin"]["cell_lines"][:2]]
    lines.append(("london", cats["london"]["cell_lines"][0]))
    found = {s["uid"] for h in result["hits"] for s in h["sources"]} | {
        h["uid"] for h in result["hits"]
    }
    assert found >= expected_lines(lines)
    assert result["total"] == 3
    [facet] = [f for f in result["facets"] if f["name"] == "resource"]
    values = {v["value"]: (v["label"], v["count"]) for v in facet["values"]}
    assert values["ebisc"] == ("EBiSC", 3)
    assert values["stembancc"][1] == 2  # counted under the other facets' selection only
    assert client.get("/api/v1/search?resource=bad%20id").status_code == 400
    page = client.get("/?resource=ebisc").get_data(as_text=True)  # the page's facet panel
    assert "Research resource" in page and "EBiSC" in page
    assert client.get("/?resource=bad%20id").status_code == 400


def test_record_pages_link_to_the_resource_page(client):
    html = client.get("/records/london:collection:hesc").get_data(as_text=True)
    assert 'href="/resources/ebisc"' in html


def test_an_unknown_resource_is_a_404_that_lists_those_that_exist(client):
    page = client.get("/resources/no-such-thing")
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "no-such-thing" in html and 'href="/resources/ebisc"' in html
    assert client.get("/resources/%3Cscript%3E").status_code == 404
    api = client.get("/api/v1/resources/no-such-thing")
    assert api.status_code == 404 and "GET /api/v1/resources" in api.json["detail"]


@pytest.fixture(scope="module")
def demo_client(engine_url, tmp_path_factory):
    from bench.relevance import index_demo

    prefix = f"test-res-demo-{uuid.uuid4().hex[:8]}-"
    index_demo(engine_url, prefix, tmp_path_factory.mktemp("demo"))
    yield create_app({"SEARCH_URL": engine_url, "INDEX_PREFIX": prefix}).test_client()
    drop_indices(SearchEngine(engine_url), prefix)


def demo_holders(resource_id: str) -> dict[str, int]:
    """Lines and collections per demo node that name ``resource_id``, read from the files."""
    from bench.relevance import DEMO, DEMO_NODES

    counts = {}
    for node in DEMO_NODES:
        data = json.loads((DEMO / f"{node}.json").read_text(encoding="utf-8"))
        records = data["cell_lines"] + data["collections"]
        n = sum(resource_id in {r["id"] for r in x.get("research_resources", [])} for x in records)
        if n:
            counts[node] = n
    return counts


@pytest.mark.parametrize("resource_id", ["ebisc", "hipsci"])
def test_the_demo_resources_span_two_nodes(demo_client, resource_id):
    expected = demo_holders(resource_id)
    assert len(expected) == 2
    res = demo_client.get(f"/api/v1/resources/{resource_id}").json
    assert {n["node_id"]: n["records"] for n in res["nodes"]} == expected
    assert len({b["uid"] for b in res["biobanks"]}) >= 2 and res["notes"] == []
