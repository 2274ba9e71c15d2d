"""Node admin authorisation per biobank (security review H1, M1's Host check, L8, L10).

One node holds two biobanks, A and B, each with a collection and cell lines (one of them
withdrawn), and a network. Admins of A reach A's records and get 404 for B's, as for an id
the node does not hold; they cannot move records into B or under B's collections, import
or export B's records, or change networks; a node operator can. HEAD never writes, a staged
import belongs to whoever checked it and to what they checked, and the open admin pages
answer loopback host names only.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import zipfile
from pathlib import Path

import pytest

from federation.node import admin
from federation.node.app import create_app
from federation.node.importer import import_catalogue
from federation.node.store import store_of
from federation.web.login import SESSION_ID, User, open_session

NODE = "test-node"
NETWORK = {"id": "net-1", "name": "Stem Cell Network"}
A = {"biobank": "bank-a", "collection": "coll-a", "cell_line": "LA1", "withdrawn": "LA0"}
B = {"biobank": "bank-b", "collection": "coll-b", "cell_line": "LB1", "withdrawn": "LB0"}


def biobank(bid: str) -> dict:
    return {"id": bid, "name": f"Bank {bid}", "country": "DE", "networks": ["net-1"]}


def collection(cid: str, bid: str) -> dict:
    return {"id": cid, "biobank": bid, "name": f"Collection {cid}", "materials": ["IPSC"]}


def line(lid: str, bid: str, cid: str, **fields) -> dict:
    return {
        "id": lid,
        "biobank": bid,
        "collection": cid,
        "name": lid,
        "cell_type": "hiPSC",
        "donor": {"sex": "FEMALE", "age_range": "50-54", "diseases": []},
        "availability": "available",
        **fields,
    }


def document(*lines: dict, **sections: list) -> dict:
    return {"schema_version": "2", **sections, "cell_lines": list(lines)}


def seed() -> dict:
    return document(
        *(
            line(b[k], b["biobank"], b["collection"])
            for b in (A, B)
            for k in ("cell_line", "withdrawn")
        ),
        networks=[NETWORK],
        biobanks=[biobank("bank-a"), biobank("bank-b")],
        collections=[collection("coll-a", "bank-a"), collection("coll-b", "bank-b")],
    )


@pytest.fixture
def app(tmp_path):
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'authz.sqlite3'}",
            "NODE_ID": NODE,
            "IMPORT_STAGING_DIR": str(tmp_path / "staging"),
        }
    )
    store = store_of(app)
    assert import_catalogue(store, seed(), "seed.json").ok
    store.withdraw("cell_line", "LA0")
    store.withdraw("cell_line", "LB0")
    return app


@pytest.fixture
def store(app):
    return store_of(app)


def signed_in(app, sub: str, roles=("biobank-admin",), biobanks=(f"{NODE}:bank-a",)):
    client = app.test_client()
    with client.session_transaction() as session:
        session[SESSION_ID] = open_session(  # a login kept server-side
            app,
            User.from_session(
                {
                    "iss": "https://idp.example",
                    "sub": sub,
                    "name": sub.capitalize(),
                    "roles": list(roles),
                    "biobanks": list(biobanks),
                }
            ),
        )
    return client


@pytest.fixture
def dave(app):
    """An admin of bank-a only (like the demo's dave at uk-hipsci)."""
    return signed_in(app, "dave")


@pytest.fixture
def operator(app):
    """This node's operator: the role, and ``<this node>:*`` in the biobanks claim."""
    return signed_in(app, "olga", roles=("node-operator",), biobanks=(f"{NODE}:*",))


def csrf(client, path="/admin/import") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def everything(store) -> dict:
    """Every record at the node, published and withdrawn: to show nothing changed."""
    return {
        (kind, withdrawn): store.records(kind, withdrawn=withdrawn)
        for kind in ("network", "biobank", "collection", "cell_line")
        for withdrawn in (False, True)
    }


def stored(store, kind: str, local_id: str) -> dict:
    return store.get(kind, local_id) or store.withdrawn(kind, local_id)


def upload(client, doc: dict, name: str = "bank.json", **form):
    data = {"csrf_token": csrf(client), "files": (io.BytesIO(json.dumps(doc).encode()), name)}
    return client.post("/admin/import", data={**data, **form}, content_type="multipart/form-data")


def staged_token(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def confirm(client, token: str):
    return client.post("/admin/import/confirm", data={"csrf_token": csrf(client), "token": token})


# -- every route: A's objects reachable, B's answer 404 ------------------------------------
ROUTES = [
    pytest.param("GET", "/admin/records/biobank/{biobank}", None, 200, id="record-biobank"),
    pytest.param("GET", "/admin/records/collection/{collection}", None, 200, id="record-coll"),
    pytest.param("GET", "/admin/records/cell_line/{cell_line}", None, 200, id="record-line"),
    pytest.param("GET", "/admin/records/cell_line/{withdrawn}", None, 200, id="record-withdrawn"),
    pytest.param("GET", "/admin/edit/biobank/{biobank}", None, 200, id="edit-page-biobank"),
    pytest.param("GET", "/admin/edit/collection/{collection}", None, 200, id="edit-page-coll"),
    pytest.param("GET", "/admin/edit/cell_line/{cell_line}", None, 200, id="edit-page-line"),
    pytest.param("POST", "/admin/edit/biobank/{biobank}", "biobank", 302, id="save-biobank"),
    pytest.param("POST", "/admin/edit/collection/{collection}", "collection", 302, id="save-coll"),
    pytest.param("POST", "/admin/edit/cell_line/{cell_line}", "cell_line", 302, id="save-line"),
    pytest.param("POST", "/admin/withdraw/cell_line/{cell_line}", "", 302, id="withdraw"),
    pytest.param("POST", "/admin/restore/cell_line/{withdrawn}", "", 302, id="restore"),
]


def call(client, store, method: str, path: str, edit: str | None, objects: dict):
    url = path.format(**objects)
    if method == "GET":
        return client.get(url)
    data = {"csrf_token": csrf(client)}
    if edit:
        data["record"] = json.dumps({**stored(store, edit, objects[edit]), "name": "Renamed"})
    return client.post(url, data=data)


@pytest.mark.parametrize(("method", "path", "edit", "ok"), ROUTES)
def test_an_admin_of_a_reaches_as_records(dave, store, method, path, edit, ok):
    seq = store.latest_seq()
    response = call(dave, store, method, path, edit, A)
    assert response.status_code == ok, response.get_data(as_text=True)[:500]
    if method == "POST":
        assert store.latest_seq() > seq
    if edit:
        assert store.get(edit, A[edit])["name"] == "Renamed"


@pytest.mark.parametrize(("method", "path", "edit", "ok"), ROUTES)
def test_an_admin_of_a_gets_404_for_bs_records_and_nothing_changes(
    dave, store, method, path, edit, ok
):
    before, seq = everything(store), store.latest_seq()
    response = call(dave, store, method, path, edit, B)
    assert response.status_code == 404
    kind = path.split("/")[3]
    assert f"This node holds no {kind.replace('_', ' ')} with id" in response.get_data(as_text=True)
    assert everything(store) == before and store.latest_seq() == seq


def test_a_foreign_record_answers_exactly_like_a_missing_one(dave):
    foreign = dave.get("/admin/records/cell_line/LB1")
    missing = dave.get("/admin/records/cell_line/NOPE1")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_data(as_text=True).replace("LB1", "X") == missing.get_data(
        as_text=True
    ).replace("NOPE1", "X")


def test_lists_and_counts_hold_only_the_admins_biobanks(dave):
    for kind, mine, theirs in (
        ("biobank", "bank-a", "bank-b"),
        ("collection", "coll-a", "coll-b"),
        ("cell_line", "LA1", "LB1"),
        ("cell_line", "LA0", "LB0"),  # the withdrawn table too
    ):
        page = dave.get(f"/admin/records/{kind}/").get_data(as_text=True)
        assert f"/admin/records/{kind}/{mine}" in page and theirs not in page
    overview = dave.get("/admin/").get_data(as_text=True)
    assert re.search(r"cell lines</a></th>\s*<td>1</td><td>1</td>", overview)
    assert re.search(r"biobanks</a></th>\s*<td>1</td><td>0</td>", overview)
    assert "administrator of bank-a" in overview


# -- saving may not move a record out of reach ----------------------------------------------
@pytest.mark.parametrize(
    ("path", "record", "field"),
    [
        pytest.param(  # the review's request-diversion attack, the other way round
            "/admin/edit/cell_line/LA1",
            line("LA1", "bank-b", "coll-a"),
            "biobank",
            id="line-into-b",
        ),
        pytest.param(
            "/admin/edit/cell_line/LA1",
            line("LA1", "bank-a", "coll-b"),
            "collection",
            id="line-under-bs-collection",
        ),
        pytest.param(
            "/admin/edit/cell_line/LA1",
            line("LA1", "bank-b", "coll-b"),
            "biobank",
            id="line-wholly-into-b",
        ),
        pytest.param(
            "/admin/edit/collection/coll-a",
            collection("coll-a", "bank-b"),
            "biobank",
            id="collection-into-b",
        ),
        pytest.param(
            "/admin/edit/collection/",
            {**collection("coll-a2", "bank-a"), "parent": "coll-b"},
            "parent",
            id="new-collection-under-b",
        ),
        pytest.param(
            "/admin/edit/cell_line/", line("LX1", "bank-b", "coll-b"), "biobank", id="new-line-in-b"
        ),
        pytest.param(
            "/admin/edit/biobank/", biobank("bank-c"), "id", id="new-biobank-not-administered"
        ),
        pytest.param(  # B's withdrawn line: a "new" record may not take over its id
            "/admin/edit/cell_line/", line("LB0", "bank-a", "coll-a"), "id", id="bs-withdrawn-id"
        ),
    ],
)
def test_saving_into_another_biobank_is_refused_and_nothing_changes(
    dave, store, path, record, field
):
    before, seq = everything(store), store.latest_seq()
    response = dave.post(path, data={"csrf_token": csrf(dave), "record": json.dumps(record)})
    page = response.get_data(as_text=True)
    assert response.status_code == 403, page[:500]
    assert f"<strong>{field}</strong>" in page and "nothing was saved" in page
    assert everything(store) == before and store.latest_seq() == seq


def test_moving_between_ones_own_biobanks_is_fine(app, store):
    both = signed_in(app, "bob", biobanks=(f"{NODE}:bank-a", f"{NODE}:bank-b"))
    moved = line("LA1", "bank-b", "coll-b")
    response = both.post(
        "/admin/edit/cell_line/LA1",
        data={"csrf_token": csrf(both), "record": json.dumps(moved)},
    )
    assert response.status_code == 302 and store.get("cell_line", "LA1")["biobank"] == "bank-b"


def test_networks_are_read_by_every_admin_and_changed_by_node_operators(dave, operator, store):
    page = dave.get("/admin/records/network/net-1").get_data(as_text=True)
    assert "Stem Cell Network" in page and "Withdraw from the catalogue" not in page
    token = csrf(dave)
    changed = json.dumps({**NETWORK, "name": "Renamed"})
    for response in (
        dave.get("/admin/edit/network/net-1"),
        dave.get("/admin/edit/network/"),
        dave.post("/admin/edit/network/net-1", data={"csrf_token": token, "record": changed}),
        dave.post("/admin/withdraw/network/net-1", data={"csrf_token": token}),
    ):
        assert response.status_code == 403
        text = response.get_data(as_text=True)
        assert "only a node operator may change them" in text and "You administer" in text
    assert store.get("network", "net-1")["name"] == "Stem Cell Network"
    saved = operator.post(
        "/admin/edit/network/net-1",
        data={"csrf_token": csrf(operator), "record": changed},
    )
    assert saved.status_code == 302 and store.get("network", "net-1")["name"] == "Renamed"


# -- imports ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("doc", "where"),
    [
        pytest.param(
            document(line("LA1", "bank-a", "coll-a"), line("LB1", "bank-b", "coll-b")),
            "cell_lines[1] (id LB1)",
            id="updates-bs-line",
        ),
        pytest.param(  # B's line, claimed for A: the stored version decides
            document(line("LB1", "bank-a", "coll-a")), "cell_lines[0] (id LB1)", id="takes-bs-line"
        ),
        pytest.param(
            document(line("LB0", "bank-a", "coll-a")),
            "cell_lines[0] (id LB0)",
            id="reuses-bs-withdrawn-id",
        ),
        pytest.param(
            document(line("LX1", "bank-b", "coll-b")), "cell_lines[0] (id LX1)", id="new-line-in-b"
        ),
        pytest.param(
            document(line("LX1", "bank-a", "coll-b")),
            "cell_lines[0] (id LX1)",
            id="line-under-bs-collection",
        ),
        pytest.param(
            document(biobanks=[{**biobank("bank-b"), "name": "Mine now"}]),
            "biobanks[0] (id bank-b)",
            id="bs-biobank-record",
        ),
        pytest.param(
            document(networks=[{**NETWORK, "name": "Renamed"}]),
            "networks[0] (id net-1)",
            id="a-network",
        ),
    ],
)
def test_an_import_touching_anything_beyond_ones_biobanks_is_refused_whole(dave, store, doc, where):
    before, seq = everything(store), store.latest_seq()
    response = upload(dave, doc)
    page = response.get_data(as_text=True)
    assert response.status_code == 403, page[:800]
    assert "nothing was stored" in page and f"<td>{where}</td>" in page
    assert 'name="token"' not in page
    assert everything(store) == before and store.latest_seq() == seq


def test_an_import_of_ones_own_records_goes_through(dave, store):
    doc = document(line("LA1", "bank-a", "coll-a", name="Renamed"), line("LA2", "bank-a", "coll-a"))
    dry = upload(dave, doc)
    assert dry.status_code == 200 and "Dry run: ready to import" in dry.get_data(as_text=True)
    done = confirm(dave, staged_token(dry))
    assert done.status_code == 200 and "1 created, 1 updated" in done.get_data(as_text=True)
    assert store.get("cell_line", "LA1")["name"] == "Renamed" and store.get("cell_line", "LA2")


def test_the_confirm_checks_the_scope_again(dave, store):
    """Between the dry run and the confirm, a node operator moved LA1 to biobank B: the
    confirm is refused, and LA1 stays where it is now."""
    dry = upload(dave, document(line("LA1", "bank-a", "coll-a", name="Renamed")))
    assert dry.status_code == 200
    store.write([("cell_line", line("LA1", "bank-b", "coll-b"))])
    seq = store.latest_seq()
    done = confirm(dave, staged_token(dry))
    page = done.get_data(as_text=True)
    assert done.status_code == 403 and "<td>cell_lines[0] (id LA1)</td>" in page
    assert store.get("cell_line", "LA1") == line("LA1", "bank-b", "coll-b")
    assert store.latest_seq() == seq


HPSCREG = {"name": "TEST01-A", "type_name": "hiPSC", "validation_status": "validated"}


def test_the_hpscreg_target_is_one_of_ones_own_biobanks(dave, store):
    refused = upload(dave, HPSCREG, "lines.json", biobank="bank-b")
    assert refused.status_code == 403
    assert "&#39;bank-b&#39; is not a biobank you administer" in refused.get_data(as_text=True)
    refused = upload(dave, HPSCREG, "lines.json", collection="coll-b")
    assert refused.status_code == 403
    # Without a target the lines go to the admin's only biobank, not "the node's only one".
    dry = upload(dave, HPSCREG, "lines.json")
    assert dry.status_code == 200, dry.get_data(as_text=True)[:800]
    assert confirm(dave, staged_token(dry)).status_code == 200
    assert store.get("cell_line", "TEST01-A")["biobank"] == "bank-a"


# -- exports ---------------------------------------------------------------------------------
def _text(content: bytes) -> str:
    if content[:2] != b"PK":
        return content.decode()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return "\n".join(archive.read(n).decode(errors="replace") for n in archive.namelist())


@pytest.mark.parametrize("fmt", ["json", "xlsx", "csv", "directory"])
def test_an_export_holds_only_the_admins_biobanks(dave, operator, fmt):
    mine = _text(dave.get(f"/admin/export/{fmt}").data)
    assert "bank-a" in mine and "coll-a" in mine
    assert "bank-b" not in mine and "coll-b" not in mine and "LB1" not in mine
    everyone = _text(operator.get(f"/admin/export/{fmt}").data)
    assert "bank-a" in everyone and "bank-b" in everyone


def test_a_json_export_is_exactly_ones_own_records(dave):
    exported = json.loads(dave.get("/admin/export/json").data)
    assert exported["networks"] == []
    assert [b["id"] for b in exported["biobanks"]] == ["bank-a"]
    assert [c["id"] for c in exported["collections"]] == ["coll-a"]
    assert [r["id"] for r in exported["cell_lines"]] == ["LA1"]


# -- the node operator -------------------------------------------------------------------------
def test_a_node_operator_does_node_wide_actions(operator, store):
    assert operator.get("/admin/records/cell_line/LB1").status_code == 200
    page = operator.get("/admin/records/cell_line/").get_data(as_text=True)
    assert "LA1" in page and "LB1" in page and "node operator" in page
    token = csrf(operator)
    assert operator.post("/admin/withdraw/cell_line/LB1", data={"csrf_token": token}).status_code
    assert store.get("cell_line", "LB1") is None
    doc = document(
        line("LA3", "bank-a", "coll-a"),
        line("LB3", "bank-b", "coll-b"),
        networks=[{**NETWORK, "name": "Renamed"}],
    )
    dry = upload(operator, doc)
    assert dry.status_code == 200
    assert confirm(operator, staged_token(dry)).status_code == 200
    assert store.get("cell_line", "LB3") and store.get("network", "net-1")["name"] == "Renamed"
    exported = json.loads(operator.get("/admin/export/json").data)
    assert [n["id"] for n in exported["networks"]] == ["net-1"]
    assert {b["id"] for b in exported["biobanks"]} == {"bank-a", "bank-b"}


@pytest.mark.parametrize(
    ("roles", "biobanks"),
    [
        (("node-operator",), ()),  # the realm role alone names no node
        (("node-operator",), ("other-node:*",)),  # the operator of another node
        (("biobank-admin",), (f"{NODE}:*",)),  # the node's entry without the role
    ],
)
def test_the_operator_role_counts_only_with_this_nodes_entry(app, store, roles, biobanks):
    someone = signed_in(app, "otto", roles=roles, biobanks=biobanks)
    assert someone.get("/admin/").status_code == 403
    assert someone.get("/admin/records/cell_line/LB1").status_code == 403
    assert store.get("cell_line", "LB1") is not None


def test_without_a_biobank_here_or_the_operator_role_the_pages_are_closed(app):
    outsider = signed_in(app, "erin", roles=("researcher", "biobank-admin"), biobanks=())
    response = outsider.get("/admin/")
    assert response.status_code == 403 and "nor its node operator" in response.get_data(
        as_text=True
    )


# -- L8: HEAD never writes ---------------------------------------------------------------------
def test_head_on_a_write_route_writes_nothing(dave, store):
    before, seq = everything(store), store.latest_seq()
    changed = json.dumps({**store.get("cell_line", "LA1"), "name": "Written by HEAD"})
    response = dave.open("/admin/edit/cell_line/LA1", method="HEAD", data={"record": changed})
    assert response.status_code == 200
    assert everything(store) == before and store.latest_seq() == seq


# -- L10: staged imports belong to whoever checked them, and to what they checked ------------
def test_a_staging_token_from_another_user_is_refused(app, dave, store):
    colleague = signed_in(app, "dora")  # also an admin of bank-a, but another person
    dry = upload(dave, document(line("LA2", "bank-a", "coll-a")))
    token = staged_token(dry)
    seq = store.latest_seq()
    refused = confirm(colleague, token)
    assert refused.status_code == 403 and "checked by someone else" in refused.get_data(
        as_text=True
    )
    assert store.latest_seq() == seq and store.get("cell_line", "LA2") is None
    assert confirm(dave, token).status_code == 200  # still the stager's to confirm
    assert store.get("cell_line", "LA2") is not None
    assert confirm(dave, token).status_code == 410  # once only
    assert list(staging_dir(app).iterdir()) == []  # nothing left behind


def staging_dir(app) -> Path:
    return Path(app.config["IMPORT_STAGING_DIR"]) / f"cellfed-import-{NODE}"


def test_staged_files_changed_after_the_dry_run_are_refused(app, dave, store):
    dry = upload(dave, document(line("LA2", "bank-a", "coll-a")))
    token = staged_token(dry)
    folder = staging_dir(app) / token
    swapped = io.BytesIO()
    with zipfile.ZipFile(swapped, "w") as archive:
        archive.writestr("bank.json", json.dumps(document(line("LB1", "bank-a", "coll-a"))))
    (folder / "files.zip").write_bytes(swapped.getvalue())
    seq = store.latest_seq()
    response = confirm(dave, token)
    assert response.status_code == 409 and "changed after" in response.get_data(as_text=True)
    assert store.latest_seq() == seq and not folder.exists()


def test_staged_imports_expire_and_are_removed(app, dave, store, monkeypatch):
    first = staged_token(upload(dave, document(line("LA2", "bank-a", "coll-a"))))
    second = staged_token(upload(dave, document(line("LA3", "bank-a", "coll-a"))))
    folder = staging_dir(app)
    hours_ago = time.time() - 2 * 3600
    os.utime(folder / second, (hours_ago, hours_ago))
    upload(dave, document(line("LA4", "bank-a", "coll-a")))  # a new dry run sweeps old ones
    assert not (folder / second).exists() and (folder / first).exists()
    monkeypatch.setattr(admin, "STAGING_SECONDS", 0)
    time.sleep(0.01)
    assert confirm(dave, first).status_code == 410
    assert not (folder / first).exists() and store.get("cell_line", "LA2") is None


@pytest.mark.parametrize("mode", [0o770, 0o702, 0o777])
def test_a_staging_folder_others_may_write_is_refused(app, dave, store, mode):
    folder = staging_dir(app)
    folder.mkdir(parents=True)
    folder.chmod(mode)
    seq = store.latest_seq()
    response = upload(dave, document(line("LA2", "bank-a", "coll-a")))
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and "IMPORT_STAGING_DIR" in page, page[:500]
    assert "group or world writable" in page and 'name="token"' not in page
    assert list(folder.iterdir()) == [] and store.latest_seq() == seq


def test_a_staging_folder_of_another_account_is_refused(app, dave, monkeypatch):
    staging_dir(app).mkdir(parents=True, mode=0o700)
    ours = os.getuid()
    monkeypatch.setattr(admin.os, "getuid", lambda: ours + 1)  # the node runs as another account
    response = upload(dave, document(line("LA2", "bank-a", "coll-a")))
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and "IMPORT_STAGING_DIR" in page
    assert "belongs to another account" in page


def test_a_link_in_place_of_the_staging_folder_is_refused(app, dave, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    staging_dir(app).parent.mkdir(parents=True)
    staging_dir(app).symlink_to(elsewhere)
    response = upload(dave, document(line("LA2", "bank-a", "coll-a")))
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and "IMPORT_STAGING_DIR" in page
    assert "is not a folder" in page and list(elsewhere.iterdir()) == []


def test_a_private_staging_folder_is_used(app, dave):
    staging_dir(app).mkdir(parents=True, mode=0o700)
    dry = upload(dave, document(line("LA2", "bank-a", "coll-a")))
    assert dry.status_code == 200 and (staging_dir(app) / staged_token(dry)).is_dir()


# -- M1: the open admin pages answer loopback host names only ----------------------------------
@pytest.fixture
def open_app(tmp_path):
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'open.sqlite3'}",
            "NODE_ID": NODE,
            "NODE_ADMIN_OPEN": True,
            "IMPORT_STAGING_DIR": str(tmp_path / "staging"),
        }
    )


@pytest.mark.parametrize(
    "host", ["127.0.0.1:5103", "localhost:5103", "[::1]:5103", "localhost", "127.0.0.1"]
)
def test_open_admin_pages_answer_loopback_hosts(open_app, host):
    response = open_app.test_client().get("/admin/", headers={"Host": host})
    assert response.status_code == 200 and "node operator" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "host", ["rebind.attacker.example:5199", "rebind.attacker.example", "127.0.0.1.nip.example"]
)
def test_a_dns_rebinding_host_is_refused_while_the_pages_are_open(open_app, host):
    client = open_app.test_client()
    response = client.get("/admin/", headers={"Host": host})
    assert response.status_code == 400
    assert "open on loopback only" in response.get_data(as_text=True)
    assert client.get("/admin/export/json", headers={"Host": host}).status_code == 400


def test_open_admin_pages_refuse_clients_off_this_machine(open_app):
    client = open_app.test_client()
    response = client.get("/admin/", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 403
