"""Certificates of analysis, served by the node that owns the line (read-only, public like
the catalogue pages).

``GET /catalogue/lines/<line>/lots/<lot>/coa``: a lot's certificate names either a link
(answered with a redirect to it: the node vouches for the link, the portal never fetches it)
or a PDF file in the node's ``COA_DIR``, which the node admin fills (copies the PDFs there;
records name them by file name). Only this node's current lines and their own lots are
served; a file is sent only if it is a PDF (``%PDF-``), from that folder, never a path.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, redirect, send_file
from marshmallow import ValidationError

from federation.node.store import current_store
from schemas.parts import COA_FILE

bp = Blueprint("catalogue", __name__)

PDF_MAGIC = b"%PDF-"


def certificate_of(line_id: str, lot_id: str) -> dict[str, str]:
    """The certificate of one lot of one of this node's current lines, or a 404 that says
    what is missing."""
    line = current_store().get("cell_line", line_id)
    if line is None:
        abort(404, f"this node holds no current cell line {line_id!r}")
    lot = next((x for x in line.get("lots", []) if x.get("lot_id") == lot_id), None)
    if lot is None:
        abort(404, f"cell line {line_id!r} has no lot {lot_id!r}")
    certificate = lot.get("certificate_of_analysis")
    if not certificate:
        abort(404, f"lot {lot_id!r} of {line_id!r} has no certificate of analysis")
    return certificate


def _file(name: str) -> Path:
    folder = current_app.config.get("COA_DIR")
    # The schema allows only plain PDF names; checked again: a record is data, not a path.
    if not folder:
        abort(404, "this node serves no certificate files (COA_DIR is not set)")
    try:
        COA_FILE(name)
    except ValidationError:
        abort(404, f"{name!r} is not a certificate file name")
    path = Path(folder) / name
    if not path.is_file():
        abort(404, f"the certificate file {name!r} is not at this node")
    with path.open("rb") as fh:
        if fh.read(len(PDF_MAGIC)) != PDF_MAGIC:
            abort(404, f"the certificate file {name!r} is not a PDF")
    return path


@bp.get("/catalogue/lines/<line_id>/lots/<lot_id>/coa")
def certificate(line_id: str, lot_id: str) -> Response:
    found = certificate_of(line_id, lot_id)
    if found.get("url"):
        return redirect(found["url"], code=302)  # type: ignore[return-value]
    resp = send_file(
        _file(found["file"]),
        mimetype="application/pdf",
        download_name=f"{line_id}-{lot_id}-certificate-of-analysis.pdf",
    )
    resp.headers["Content-Security-Policy"] = "sandbox"  # a PDF runs no script of ours
    return resp
