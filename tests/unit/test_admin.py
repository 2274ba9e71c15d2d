"""The node admin pages: closed by default, CSRF-checked, import with dry run and confirm,
edit with per-field problems, withdraw and restore, exports."""

import io
import json
import re

import pytest

from federation.node.app import create_app
from federation.node.exporter import catalogue_document
from federation.node.store import store_of
from federation.web.login import SESSION_ID, User, open_session
from tests.builders import catalogue, cell_line


@pytest.fixture
def app(tmp_path):
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'admin.sqlite3'}",
            "NODE_ID": "test-node",
            "NODE_ADMIN_OPEN": True,
            "IMPORT_STAGING_DIR": str(tmp_path / "staging"),
        }
    )


@pytest.fixture
def client(app):
    return app.test_client()


def token(client, path="/admin/import") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def upload(client, name: str, content: bytes, **form):
    data = {"csrf_token": token(client), "files": (io.BytesIO(content), name), **form}
    return client.post("/admin/import", data=data, content_type="multipart/form-data")


def test_admin_pages_are_for_this_nodes_biobank_admins_only(tmp_path):
    closed = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.sqlite3'}", "NODE_ID": "test-node"}
    )
    anonymous = closed.test_client()
    response = anonymous.get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]

    def signed_in(biobanks: list[str]):
        client = closed.test_client()
        with client.session_transaction() as session:
            session[SESSION_ID] = open_session(  # a login kept server-side
                closed,
                User.from_session(
                    {
                        "iss": "https://idp.example",
                        "sub": "u1",
                        "name": "U",
                        "roles": ["biobank-admin"],
                        "biobanks": biobanks,
                    }
                ),
            )
        return client

    elsewhere = signed_in(["other-node:bb-1"]).get("/admin/")
    assert elsewhere.status_code == 403
    assert "not an administrator of any biobank at this node" in elsewhere.get_data(as_text=True)
    assert signed_in(["test-node:bb-1"]).get("/admin/").status_code == 200


def test_a_post_without_the_session_token_is_refused(client, app):
    data = {"files": (io.BytesIO(json.dumps(catalogue()).encode()), "c.json")}
    response = client.post("/admin/import", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert store_of(app).latest_seq() == 0


def test_import_shows_a_dry_run_then_stores_on_confirm(client, app):
    content = json.dumps(catalogue(cell_line("L1"), cell_line("L2"))).encode()
    dry = upload(client, "bank.json", content)
    page = dry.get_data(as_text=True)
    assert dry.status_code == 200 and "Dry run: ready to import" in page
    assert store_of(app).latest_seq() == 0
    staged = re.search(r'name="token" value="([^"]+)"', page).group(1)
    done = client.post("/admin/import/confirm", data={"csrf_token": token(client), "token": staged})
    assert "4 created" in done.get_data(as_text=True)
    assert store_of(app).counts()["cell_line"] == 2
    again = client.post(
        "/admin/import/confirm", data={"csrf_token": token(client), "token": staged}
    )
    assert again.status_code == 410  # a confirmed import cannot be replayed


def test_a_bad_upload_lists_each_problem_and_stores_nothing(client, app):
    bad = catalogue(cell_line("L1", donor={"sex": "F"}))
    response = upload(client, "bank.json", json.dumps(bad).encode())
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "nothing was stored" in page
    assert "<td>donor.sex</td>" in page and "did you mean &#39;FEMALE&#39;?" in page
    assert 'name="token"' not in page and store_of(app).latest_seq() == 0


def test_edit_shows_problems_by_field_then_saves(client, app):
    assert (
        upload(client, "b.json", json.dumps(catalogue(cell_line("L1"))).encode()).status_code == 200
    )
    store = store_of(app)
    store.write([])  # nothing; the import above was a dry run
    from federation.node.importer import import_catalogue

    assert import_catalogue(store, catalogue(cell_line("L1")), "b.json").ok
    record = store.get("cell_line", "L1")
    wrong = {**record, "availability": "gone", "passage_at_banking": -1}
    response = client.post(
        "/admin/edit/cell_line/L1",
        data={"csrf_token": token(client, "/admin/edit/cell_line/L1"), "record": json.dumps(wrong)},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<strong>availability</strong>" in page and "<strong>passage_at_banking</strong>" in page
    assert store.get("cell_line", "L1")["availability"] == "available"
    seq = store.latest_seq()
    fixed = {**record, "availability": "expand_to_order"}
    saved = client.post(
        "/admin/edit/cell_line/L1",
        data={"csrf_token": token(client, "/admin/edit/cell_line/L1"), "record": json.dumps(fixed)},
    )
    assert saved.status_code == 302
    assert store.get("cell_line", "L1")["availability"] == "expand_to_order"
    assert store.latest_seq() == seq + 1


def test_withdraw_and_restore_from_the_record_page(client, app):
    from federation.node.importer import import_catalogue

    store = store_of(app)
    assert import_catalogue(store, catalogue(cell_line("L1")), "b.json").ok
    page = client.get("/admin/records/cell_line/L1").get_data(as_text=True)
    assert "Withdraw from the catalogue" in page and "hiPSC (Human induced pluripotent" in page
    csrf = token(client, "/admin/records/cell_line/L1")
    client.post("/admin/withdraw/cell_line/L1", data={"csrf_token": csrf})
    assert store.get("cell_line", "L1") is None
    assert store.changes(0, 10)[-1]["op"] == "delete"
    refused = client.post(
        "/admin/withdraw/biobank/bb-berlin", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "Not withdrawn" in refused.get_data(as_text=True)  # its collection still names it
    page = client.get("/admin/records/cell_line/L1").get_data(as_text=True)
    assert "Restore and publish again" in page
    client.post("/admin/restore/cell_line/L1", data={"csrf_token": csrf})
    assert store.get("cell_line", "L1")["name"] == "L1"


def test_overview_counts_and_exports(client, app):
    from federation.node.importer import import_catalogue

    store = store_of(app)
    assert import_catalogue(store, catalogue(cell_line("L1")), "b.json").ok
    page = client.get("/admin/").get_data(as_text=True)
    assert re.search(r"cell lines</a></th>\s*<td>1</td><td>0</td>", page)
    exported = client.get("/admin/export/json")
    assert exported.headers["Content-Disposition"].startswith("attachment")
    assert json.loads(exported.data) == json.loads(json.dumps(catalogue_document(store)))
    assert client.get("/admin/template.xlsx").data[:2] == b"PK"
    assert client.get("/admin/export/pdf").status_code == 404
