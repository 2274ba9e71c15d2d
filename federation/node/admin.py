"""The node admin pages: catalogue overview, records, import with a dry run and a confirm
step, edit, withdraw and restore, exports. Server-rendered; they work without JavaScript.

Every page passes :func:`require_admin` first: an administrator of one of this node's
biobanks or its node operator, signed in with OIDC. Each page then reaches only what that
person may (federation/node/authz.py): a biobank administrator their own biobanks' records, a
node operator all of them; anything else answers 404 like a missing id, and a forbidden action
403. Every form carries the app's CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import ipaddress
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, NoReturn

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from federation.node.authz import (
    Scope,
    ScopedCatalogue,
    import_problems,
    placement,
    record_problems,
)
from federation.node.exporter import FORMATS as EXPORT_FORMATS
from federation.node.exporter import export
from federation.node.formats import FORMATS as IMPORT_FORMATS
from federation.node.formats import convert, tabular
from federation.node.formats.report import CATALOGUE_SECTIONS
from federation.node.formats.sources import Files, expand, read_uploads, sweep_staged
from federation.node.importer import ImportReport, check_catalogue, run_import
from federation.node.privacy import current_policy
from federation.node.store import (
    InUse,
    MissingReference,
    RecordNotFound,
    StillWithdrawn,
    current_store,
)
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
STAGING_SECONDS = 3600
"""How long a dry run waits for its confirmation; older staged imports are removed."""
LOOPBACK_HOST = re.compile(r"^(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?$", re.IGNORECASE)
"""Host headers the open admin pages answer (a DNS-rebinding page sends its own name)."""
OPEN_HOLDER = "admin_open_holder"
"""Session key: who staged an import on open admin pages (there is no user to name)."""


# -- access ----------------------------------------------------------------------------
@bp.before_request
def require_admin():
    """The one gate of the admin pages: an administrator of one of this node's biobanks, or
    its node operator, signed in through the alliance's identity provider; what each may
    reach is their :class:`Scope`. (NODE_ADMIN_OPEN = true opens them to anyone on loopback,
    as a node operator, for a node without an identity provider.) CSRF is checked for every
    form of the app (federation/csrf.py)."""
    node_id = current_app.config["NODE_ID"]
    if current_app.config.get("NODE_ADMIN_OPEN") is True:
        _loopback_only()
        if OPEN_HOLDER not in session:
            session[OPEN_HOLDER] = secrets.token_urlsafe(16)
        g.admin_scope = Scope.open(node_id, session[OPEN_HOLDER])
        return None
    user = current_user()
    if user is None:
        if request.method in ("GET", "HEAD"):
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401, "Please log in as an administrator of one of this node's biobanks.")
    scope = Scope.of_user(user, node_id)
    if not scope.admits:
        abort(
            403,
            "You are not an administrator of any biobank at this node, nor its node operator. "
            "Ask the alliance's operators to add your biobanks to your account.",
        )
    g.admin_scope = scope
    return None


def _loopback_only() -> None:
    """Open admin pages answer only loopback clients that name a loopback host: a page
    elsewhere that rebinds its own DNS name to 127.0.0.1 still sends that name as Host."""
    if not LOOPBACK_HOST.match(request.host or ""):
        abort(
            400,
            "These admin pages are open on loopback only (NODE_ADMIN_OPEN): open them at "
            "127.0.0.1, localhost or [::1], not at another host name.",
        )
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address is None or not address.is_loopback:
        abort(403, "These admin pages are open to this machine only (NODE_ADMIN_OPEN).")


def scope() -> Scope:
    """What the person at this request may reach (set by :func:`require_admin`)."""
    return g.admin_scope


@bp.context_processor
def _admin_scope() -> dict[str, Any]:
    return {"admin_scope": g.get("admin_scope")}


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


def _reach(kind: str, local_id: str, change: bool = False) -> tuple[dict[str, Any], bool]:
    """The record (published, else withdrawn) and whether it is withdrawn, if this person
    may see it: 404 otherwise, exactly as for an id the node does not hold. With ``change``,
    403 when they may see it but not change it (a network, for a biobank administrator)."""
    store = current_store()
    found = store.get(kind, local_id)
    record = found if found is not None else store.withdrawn(kind, local_id)
    if record is None or not scope().sees(kind, record):
        abort(404, f"This node holds no {kind.replace('_', ' ')} with id {local_id!r}.")
    if change and not scope().may_change(kind, record):
        abort(403, scope().node_wide_only(kind))
    return record, found is None


# -- overview and records ----------------------------------------------------------------
@bp.get("/")
def overview():
    store = current_store()
    visible = ScopedCatalogue(store, scope())
    return render_template(
        "admin/overview.html",
        counts=visible.counts(),
        withdrawn=visible.withdrawn_counts(),
        latest_seq=store.latest_seq(),
        exports=EXPORT_FORMATS,
    )


@bp.get("/records/<kind>/")
def records(kind: str):
    kind = _kind(kind)
    visible = ScopedCatalogue(current_store(), scope())
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    live = visible.records(kind)
    start = (page - 1) * PAGE_SIZE
    return render_template(
        "admin/records.html",
        kind=kind,
        records=live[start : start + PAGE_SIZE],
        total=len(live),
        page=page,
        pages=max((len(live) + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        withdrawn=visible.records(kind, withdrawn=True),
        may_change=scope().may_change(kind),
    )


@bp.get("/records/<kind>/<path:local_id>")
def record(kind: str, local_id: str):
    kind = _kind(kind)
    found, is_withdrawn = _reach(kind, local_id)
    return render_template(
        "admin/record.html",
        kind=kind,
        local_id=local_id,
        record=found,
        is_withdrawn=is_withdrawn,
        may_change=scope().may_change(kind, found),
        pretty=json.dumps(found, indent=2, ensure_ascii=False),
    )


@bp.route("/edit/<kind>/", methods=["GET", "POST"], defaults={"local_id": None})
@bp.route("/edit/<kind>/<path:local_id>", methods=["GET", "POST"])
def edit(kind: str, local_id: str | None):
    """Edit a record as JSON (or write a new one); every problem is listed by field. Only a
    record of one's own biobanks, and only into them (authz.record_problems)."""
    kind = _kind(kind)
    store = current_store()
    problems: list[tuple[str, str]] = []
    if local_id:
        current, is_withdrawn = _reach(kind, local_id, change=True)
        if is_withdrawn:  # restore it first; it has no edit page
            abort(404, f"This node holds no {kind.replace('_', ' ')} with id {local_id!r}.")
    elif not scope().may_change(kind):
        abort(403, scope().node_wide_only(kind))
    else:
        current = {"id": ""}
    if request.method != "POST":  # GET and HEAD only read (HEAD is never a write)
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
        refused = record_problems(scope(), store, kind, data)
        if not local_id and isinstance(data.get("id"), str):
            kept = store.withdrawn(kind, data["id"])
            if kept is not None and not scope().may_change(kind, kept):
                refused.append(("id", f"{data['id']!r} is taken at this node: choose another"))
        if refused:
            return _edit_page(kind, local_id, text, refused, 403)
        document = {"schema_version": SCHEMA_VERSION, SECTION_OF[kind]: [data]}
        records, found = check_catalogue(document, "edit", store)
        problems += [(p.field, p.message) for p in found]
        if not problems:
            try:
                store.write(records)
            except (StillWithdrawn, InUse) as exc:  # withdrawn since the check above
                return _edit_page(kind, local_id, text, [("id", str(exc))], 409)
            flash(f"Saved {kind.replace('_', ' ')} {data['id']}.")
            return redirect(url_for("admin.record", kind=kind, local_id=data["id"]))
    return _edit_page(kind, local_id, text, problems, 422)


def _edit_page(kind: str, local_id: str | None, text: str, problems: list, status: int):
    page = render_template(
        "admin/edit.html", kind=kind, local_id=local_id, text=text, problems=problems
    )
    return page, status


@bp.post("/withdraw/<kind>/<path:local_id>")
def withdraw(kind: str, local_id: str):
    kind = _kind(kind)
    _reach(kind, local_id, change=True)
    try:
        current_store().withdraw(kind, local_id)
    except (RecordNotFound, InUse) as exc:
        flash(f"Not withdrawn: {exc}.", "error")
    else:
        flash(f"Withdrawn: {kind.replace('_', ' ')} {local_id} leaves the published catalogue.")
    return redirect(url_for("admin.record", kind=kind, local_id=local_id))


@bp.post("/restore/<kind>/<path:local_id>")
def restore(kind: str, local_id: str):
    kind = _kind(kind)
    _reach(kind, local_id, change=True)
    try:
        current_store().restore(kind, local_id)
    except (RecordNotFound, MissingReference) as exc:
        flash(f"Not restored: {exc}.", "error")
    else:
        flash(f"Restored: {kind.replace('_', ' ')} {local_id} is published again.")
    return redirect(url_for("admin.record", kind=kind, local_id=local_id))


# -- import: upload, dry run, confirm ------------------------------------------------------
# A dry run stages its files for the confirm step: in a private folder per random token, with
# who staged them and a hash of what was staged, sealed with the app's secret key. Only the
# same person can confirm, only within STAGING_SECONDS, only if the files are unchanged, and
# only once; the confirm runs every check again (the person's scope too) before it writes.
def _staging() -> Path:
    """The folder of staged imports, made private to this process's account; an existing
    one must be a folder (not a link), owned by this account, and writable by it alone: a
    staged import is what the confirm step writes to the catalogue."""
    path = Path(current_app.config.get("IMPORT_STAGING_DIR") or tempfile.gettempdir())
    path = path / f"cellfed-import-{current_app.config['NODE_ID']}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = path.lstat()
    if not stat.S_ISDIR(found.st_mode):
        _unsafe_staging("is not a folder (a symbolic link or a file is in its place)")
    if hasattr(os, "getuid") and found.st_uid != os.getuid():
        _unsafe_staging("belongs to another account on this machine")
    if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        _unsafe_staging("may be written by other accounts (group or world writable)")
    return path


def _unsafe_staging(why: str) -> NoReturn:
    abort(
        500,
        f"The import staging folder {why}; set IMPORT_STAGING_DIR to a folder of the node's "
        "own (its cellfed-import-<node id> folder is made private to the node's account), or "
        "remove that folder.",
    )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _seal(token: str, meta: dict[str, Any]) -> str:
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else bytes(key)
    message = json.dumps([token, meta], sort_keys=True).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _stage(files: Files, options: dict[str, Any]) -> str:
    staging = _staging()
    sweep_staged(staging, STAGING_SECONDS)  # imports nobody confirmed in time
    token = secrets.token_urlsafe(24)
    folder = staging / token
    folder.mkdir(mode=0o700)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    content = buffer.getvalue()
    settings = json.dumps(options, sort_keys=True).encode()
    (folder / "files.zip").write_bytes(content)
    (folder / "options.json").write_bytes(settings)
    meta = {
        "holder": scope().holder,
        "files": _digest(content),
        "options": _digest(settings),
        "staged": time.time(),
    }
    (folder / "meta.json").write_text(json.dumps({**meta, "seal": _seal(token, meta)}))
    return token


def _claim(token: str) -> tuple[Files, dict[str, Any]]:
    """The files and options staged under ``token``, taken for confirming (a token is good
    for one confirm): refused for anyone but the person who staged them, after
    STAGING_SECONDS, or when the staged files changed since the dry run."""
    gone = "This import is no longer waiting for confirmation; please upload it again."
    if not TOKEN.match(token):
        abort(410, gone)
    staging = _staging()
    sweep_staged(staging, STAGING_SECONDS)
    folder = staging / token
    try:
        stored = json.loads((folder / "meta.json").read_text())
        meta = {key: stored[key] for key in ("holder", "files", "options", "staged")}
        sealed = hmac.compare_digest(str(stored.get("seal", "")), _seal(token, meta))
    except (OSError, ValueError, KeyError, TypeError):
        abort(410, gone)
    if sealed and meta["holder"] != scope().holder:
        abort(
            403,
            "This import was checked by someone else, and only they can confirm it. Upload "
            "the files yourself to import them.",
        )
    taken = folder.with_name(f"{token}.taken")  # no longer a token: nobody else can take it
    try:
        folder.rename(taken)
    except OSError:
        abort(410, gone)
    try:
        if not sealed or not isinstance(meta["staged"], (int, float)):
            abort(409, "The staged import was changed after its dry run; please upload again.")
        if time.time() - meta["staged"] > STAGING_SECONDS:
            abort(410, gone)
        content = (taken / "files.zip").read_bytes()
        settings = (taken / "options.json").read_bytes()
        if not (
            hmac.compare_digest(_digest(content), str(meta["files"]))
            and hmac.compare_digest(_digest(settings), str(meta["options"]))
        ):
            abort(409, "The staged files changed after their dry run; please upload again.")
        files, _ = expand("staged.zip", content)
        return files, json.loads(settings)
    finally:
        shutil.rmtree(taken, ignore_errors=True)


def _run(files: Files, options: dict[str, Any], dry_run: bool) -> tuple[ImportReport, int]:
    """Convert, check (this person's scope first: a record they may not write refuses the
    whole import, with each one located), then write unless ``dry_run``. Returns the report
    and the answer's status."""
    started = time.monotonic()
    store = current_store()
    conversion = convert(
        files,
        options.get("format") or None,
        biobank=options.get("biobank") or None,
        collection=options.get("collection") or None,
        pseudonym_key=current_app.config["PSEUDONYM_KEY"],
        existing=placement(scope(), store),
    )
    if options.get("source"):
        conversion.source = options["source"]
    refused = import_problems(scope(), store, conversion, options)
    report = run_import(
        store, conversion, dry_run=dry_run or bool(refused), facts_policy=current_policy()
    )
    report.problems[:0] = refused
    report.seconds = time.monotonic() - started
    return report, (403 if refused else 200 if report.ok else 422)


def _import_page(report: ImportReport | None, status: int, **context: Any):
    return render_template(
        "admin/import.html", formats=IMPORT_FORMATS, report=report, **context
    ), status


@bp.get("/import")
def import_form():
    return _import_page(None, 200)


@bp.post("/import")
def import_upload():
    uploads = [f for f in request.files.getlist("files") if f and f.filename]
    if not uploads:
        flash("Choose a file to import.", "error")
        return _import_page(None, 400)
    # One budget for the whole request; an upload is read only when its turn comes.
    files, problems = read_uploads((Path(u.filename).name, u.read()) for u in uploads)
    options = {
        "format": request.form.get("format", ""),
        "biobank": request.form.get("biobank", "").strip(),
        "collection": request.form.get("collection", "").strip(),
        "source": ", ".join(Path(u.filename).name for u in uploads),
    }
    if options["format"] and options["format"] not in IMPORT_FORMATS:
        abort(400, f"Unknown format {options['format']!r}.")
    if problems:
        report, status = ImportReport(options["source"], problems), 422
    else:
        report, status = _run(files, options, True)
    token = _stage(files, options) if report.ok else None
    return _import_page(report, status, token=token, options=options)


@bp.post("/import/confirm")
def import_confirm():
    files, options = _claim(request.form.get("token", ""))
    report, status = _run(files, options, dry_run=False)
    return _import_page(report, status, token=None, options=options)


# -- exports ---------------------------------------------------------------------------
@bp.get("/export/<fmt>")
def export_catalogue(fmt: str):
    """The whole catalogue for a node operator; one's own biobanks' records (no networks)
    for a biobank administrator."""
    if fmt not in EXPORT_FORMATS:
        abort(404, f"No export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}.")
    store = current_store()
    result = export(
        store if scope().node_wide else ScopedCatalogue(store, scope(), networks=False),
        fmt,
        current_policy(),
    )
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
