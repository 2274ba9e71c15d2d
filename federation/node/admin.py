"""The node admin pages: catalogue overview, records, import with a dry run and a confirm
step, edit, withdraw and restore, exports. Server-rendered; they work without JavaScript.

Every page passes :func:`require_admin` first: an administrator of one of this node's
biobanks, signed in with OIDC. Every form carries the app's CSRF token.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.exceptions import HTTPException

from federation.node.exporter import FORMATS as EXPORT_FORMATS
from federation.node.exporter import export
from federation.node.formats import FORMATS as IMPORT_FORMATS
from federation.node.formats import tabular
from federation.node.formats.report import CATALOGUE_SECTIONS
from federation.node.formats.sources import Files, expand
from federation.node.importer import ImportReport, check_catalogue, import_files
from federation.node.store import InUse, NotFound, current_store
from federation.web.errors import json_or_page
from federation.web.login import current_user
from schemas import KINDS, SCHEMA_VERSION
from schemas.vocabularies import vocabulary

bp = Blueprint("admin", __name__, template_folder="templates")

SECTION_OF = {kind: section for section, kind in CATALOGUE_SECTIONS.items()}
LABELLED = {
    "country": "countries",
    "cell_type": "cell_types",
    "materials": "material_types",
    "storage_temperatures": "storage_temperatures",
    "types": "collection_types",
    "data_categories": "data_categories",
    "categories": "collection_categories",
    "sex": "sexes",
    "age_unit": "age_units",
}
"""Fields whose codes are shown with their vocabulary labels."""
PAGE_SIZE = 100
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


# -- access ----------------------------------------------------------------------------
@bp.before_request
def require_admin():
    """The one gate of the admin pages: an administrator of one of this node's biobanks,
    signed in through the alliance's identity provider. (NODE_ADMIN_OPEN = true opens them
    to anyone, for a node on loopback without an identity provider.) CSRF is checked for
    every form of the app (federation/csrf.py)."""
    if current_app.config.get("NODE_ADMIN_OPEN"):
        return None
    user = current_user()
    if user is None:
        if request.method == "GET":
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401, "Please log in as an administrator of one of this node's biobanks.")
    if not user.biobanks_at(current_app.config["NODE_ID"]):
        abort(403, "You are not an administrator of any biobank at this node.")
    return None


@bp.app_template_filter("labelled")
def labelled(value: Any, field: str) -> str:
    """``SERUM`` -> ``SERUM (Serum)`` for vocabulary fields; lists joined."""
    vocab = LABELLED.get(field)
    values = value if isinstance(value, list) else [value]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if vocab:
        return ", ".join(f"{v} ({vocabulary(vocab).label(v)})" for v in values)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


bp.register_error_handler(HTTPException, json_or_page("admin/error.html"))


def _kind(kind: str) -> str:
    if kind not in KINDS:
        abort(404, f"There is no record kind {kind!r}; the kinds are {', '.join(KINDS)}.")
    return kind


# -- overview and records ----------------------------------------------------------------
@bp.get("/")
def overview():
    store = current_store()
    return render_template(
        "admin/overview.html",
        counts=store.counts(),
        withdrawn=store.withdrawn_counts(),
        latest_seq=store.latest_seq(),
        exports=EXPORT_FORMATS,
    )


@bp.get("/records/<kind>/")
def records(kind: str):
    kind = _kind(kind)
    store = current_store()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    live = store.records(kind)
    start = (page - 1) * PAGE_SIZE
    return render_template(
        "admin/records.html",
        kind=kind,
        records=live[start : start + PAGE_SIZE],
        total=len(live),
        page=page,
        pages=max((len(live) + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        withdrawn=store.records(kind, withdrawn=True),
    )


@bp.get("/records/<kind>/<path:local_id>")
def record(kind: str, local_id: str):
    kind = _kind(kind)
    store = current_store()
    found = store.get(kind, local_id)
    withdrawn = None if found else store.withdrawn(kind, local_id)
    if found is None and withdrawn is None:
        abort(404, f"This node holds no {kind.replace('_', ' ')} with id {local_id!r}.")
    return render_template(
        "admin/record.html",
        kind=kind,
        local_id=local_id,
        record=found or withdrawn,
        is_withdrawn=found is None,
        pretty=json.dumps(found or withdrawn, indent=2, ensure_ascii=False),
    )


@bp.route("/edit/<kind>/", methods=["GET", "POST"], defaults={"local_id": None})
@bp.route("/edit/<kind>/<path:local_id>", methods=["GET", "POST"])
def edit(kind: str, local_id: str | None):
    """Edit a record as JSON (or write a new one); every problem is listed by field."""
    kind = _kind(kind)
    store = current_store()
    problems: list[tuple[str, str]] = []
    if request.method == "GET":
        current = store.get(kind, local_id) if local_id else {"id": ""}
        if current is None:
            abort(404, f"This node holds no {kind.replace('_', ' ')} with id {local_id!r}.")
        text = json.dumps(current, indent=2, ensure_ascii=False)
        return render_template(
            "admin/edit.html", kind=kind, local_id=local_id, text=text, problems=problems
        )
    text = request.form.get("record", "")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(("", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"))
        data = None
    if data is not None and not isinstance(data, dict):
        problems.append(("", "a record is a JSON object: { ... }"))
    elif data is not None and local_id and data.get("id") != local_id:
        problems.append(("id", f"stays {local_id!r} here: to rename, add a new record"))
    elif data is not None and not local_id and data.get("id") in store.existing_ids(kind):
        problems.append(("id", f"{data.get('id')!r} is taken: edit that record instead"))
    if data is not None and not problems:
        document = {"schema_version": SCHEMA_VERSION, SECTION_OF[kind]: [data]}
        records, found = check_catalogue(document, "edit", store)
        problems += [(p.field, p.message) for p in found]
        if not problems:
            store.write(records)
            flash(f"Saved {kind.replace('_', ' ')} {data['id']}.")
            return redirect(url_for("admin.record", kind=kind, local_id=data["id"]))
    return (
        render_template(
            "admin/edit.html", kind=kind, local_id=local_id, text=text, problems=problems
        ),
        422,
    )


@bp.post("/withdraw/<kind>/<path:local_id>")
def withdraw(kind: str, local_id: str):
    kind = _kind(kind)
    try:
        current_store().delete(kind, local_id)
    except (NotFound, InUse) as exc:
        flash(f"Not withdrawn: {exc}.", "error")
    else:
        flash(f"Withdrawn: {kind.replace('_', ' ')} {local_id} leaves the published catalogue.")
    return redirect(url_for("admin.record", kind=kind, local_id=local_id))


@bp.post("/restore/<kind>/<path:local_id>")
def restore(kind: str, local_id: str):
    kind = _kind(kind)
    try:
        current_store().restore(kind, local_id)
    except (NotFound, InUse) as exc:
        flash(f"Not restored: {exc}.", "error")
    else:
        flash(f"Restored: {kind.replace('_', ' ')} {local_id} is published again.")
    return redirect(url_for("admin.record", kind=kind, local_id=local_id))


# -- import: upload, dry run, confirm ------------------------------------------------------
def _staging() -> Path:
    path = Path(current_app.config.get("IMPORT_STAGING_DIR") or tempfile.gettempdir())
    path = path / f"cellfed-import-{current_app.config['NODE_ID']}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stage(files: Files, options: dict[str, Any]) -> str:
    token = secrets.token_urlsafe(24)
    folder = _staging() / token
    folder.mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    (folder / "files.zip").write_bytes(buffer.getvalue())
    (folder / "options.json").write_text(json.dumps(options))
    return token


def _staged(token: str) -> tuple[Files, dict[str, Any], Path]:
    folder = _staging() / token
    if not TOKEN.match(token) or not folder.is_dir():
        abort(410, "This import is no longer waiting for confirmation; please upload it again.")
    files, _ = expand("staged.zip", (folder / "files.zip").read_bytes())
    return files, json.loads((folder / "options.json").read_text()), folder


def _run(files: Files, options: dict[str, Any], dry_run: bool) -> ImportReport:
    return import_files(
        current_store(),
        files,
        options.get("format") or None,
        dry_run=dry_run,
        source=options.get("source"),
        biobank=options.get("biobank") or None,
        collection=options.get("collection") or None,
        pseudonym_key=current_app.config["PSEUDONYM_KEY"],
    )


@bp.get("/import")
def import_form():
    return render_template("admin/import.html", formats=IMPORT_FORMATS, report=None)


@bp.post("/import")
def import_upload():
    uploads = [f for f in request.files.getlist("files") if f and f.filename]
    if not uploads:
        flash("Choose a file to import.", "error")
        return render_template("admin/import.html", formats=IMPORT_FORMATS, report=None), 400
    files: Files = {}
    problems = []
    for upload in uploads:
        found, trouble = expand(Path(upload.filename).name, upload.read())
        files.update(found)
        problems += trouble
    options = {
        "format": request.form.get("format", ""),
        "biobank": request.form.get("biobank", "").strip(),
        "collection": request.form.get("collection", "").strip(),
        "source": ", ".join(Path(u.filename).name for u in uploads),
    }
    if options["format"] and options["format"] not in IMPORT_FORMATS:
        abort(400, f"Unknown format {options['format']!r}.")
    report = ImportReport(options["source"], problems) if problems else _run(files, options, True)
    token = _stage(files, options) if report.ok else None
    return render_template(
        "admin/import.html", formats=IMPORT_FORMATS, report=report, token=token, options=options
    ), (200 if report.ok else 422)


@bp.post("/import/confirm")
def import_confirm():
    token = request.form.get("token", "")
    files, options, folder = _staged(token)
    report = _run(files, options, dry_run=False)
    shutil.rmtree(folder, ignore_errors=True)
    return render_template(
        "admin/import.html", formats=IMPORT_FORMATS, report=report, token=None, options=options
    ), (200 if report.ok else 422)


# -- exports ---------------------------------------------------------------------------
@bp.get("/export/<fmt>")
def export_catalogue(fmt: str):
    if fmt not in EXPORT_FORMATS:
        abort(404, f"No export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}.")
    result = export(current_store(), fmt)
    return send_file(
        io.BytesIO(result.content),
        mimetype=result.mimetype,
        as_attachment=True,
        download_name=f"{current_app.config['NODE_ID']}-{result.filename}",
    )


@bp.get("/template.xlsx")
def template():
    """An empty spreadsheet with every sheet and column, to fill in and import."""
    return send_file(
        io.BytesIO(tabular.to_xlsx({})),
        mimetype=EXPORT_FORMATS["xlsx"][1],
        as_attachment=True,
        download_name="catalogue-template.xlsx",
    )
