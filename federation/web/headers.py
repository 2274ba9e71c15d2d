"""Security headers on every response, for the portal, the member nodes and the indexer.

* ``Content-Security-Policy``: scripts, styles and images from the app itself only, and no
  inline script or style (the pages have none: their CSS and JavaScript are static files). The
  JSON-LD block of the record pages is ``<script type="application/ld+json">``: data, which a
  browser never runs, so the policy does not apply to it. ``frame-ancestors 'none'`` (and
  ``X-Frame-Options: DENY`` for older browsers) stops other pages from framing ours (clickjacking
  of one-click buttons such as the inbox's "Approve"). ``form-action`` lists the identity
  provider's origin besides our own: logging out is a POST to ``/logout`` that redirects to the
  provider's end-session endpoint, and browsers (Chromium) check ``form-action`` along a form
  submission's redirects.
* ``Referrer-Policy: strict-origin-when-cross-origin``: other sites learn at most our origin, never
  a path (search words, record or request ids), and nothing on a step down from https to http.
  Same-origin navigations keep the full referrer, which "Back to results" on the record pages
  reads to return to the search with its filters; ``no-referrer`` would break that.
* ``Strict-Transport-Security`` only on a request that came over https (``request.is_secure``):
  sent over http it is ignored by browsers, and it would pin a plain-http demo to https.
  Behind a TLS-terminating proxy, set ``PROXY_HOPS`` (:func:`trust_proxy`) so the proxy's
  ``X-Forwarded-Proto`` counts; without it those headers are ignored.

Headers a view sets itself (an attachment's own ``X-Content-Type-Options``, say) are kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

HSTS = "max-age=31536000"  # a year; no includeSubDomains: other hosts under ours are not ours
REFERRER_POLICY = "strict-origin-when-cross-origin"

PAGE_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
)
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""For an app that answers only JSON (the indexer's): nothing in it may load anything."""


def origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def page_csp(form_targets: Iterable[str | None] = ()) -> str:
    """The policy for an app with pages; ``form_targets`` are URLs (of the identity provider)
    that a form may end up at besides the app itself."""
    targets = ["'self'"]
    for url in form_targets:
        found = origin(url)
        if found and found not in targets:
            targets.append(found)
    return "; ".join((*PAGE_POLICY, "form-action " + " ".join(targets)))


def security_headers(csp: str) -> dict[str, str]:
    """The headers every response gets (HSTS aside, which depends on the request)."""
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": REFERRER_POLICY,
    }


def init_headers(app: Flask, csp: str | None = None) -> None:
    """Add the security headers to every response of ``app``, errors included. ``csp``
    defaults to :func:`page_csp` with the identity provider (``OIDC_ISSUER``) as a form target;
    a JSON-only app passes :data:`API_CSP`."""
    headers = security_headers(csp or page_csp([app.config.get("OIDC_ISSUER")]))

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def trust_proxy(app: Flask, hops: int) -> None:
    """Behind ``hops`` reverse proxies, take the client's address and scheme from the
    ``X-Forwarded-For`` and ``X-Forwarded-Proto`` they set (per-IP rate limits, HSTS, Secure
    redirects). With 0, the default, those headers are ignored: anyone could send them."""
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
