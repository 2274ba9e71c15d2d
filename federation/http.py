"""The one way federation code talks HTTP to a peer it does not control.

Every call to another party (the indexer reading a node's feed, the portal delivering parts
to a node, a node reporting to the portal, token requests, OIDC discovery and key sets,
pokes) goes through :class:`SafeSession` or :func:`request`, which

* **never follow a redirect.** Any 3xx answer raises :class:`RedirectRefused`, which names the
  status only. A member must not be able to point our requests (with their method, body and
  token) at an internal service such as the search engine, nor have us read its answer. This
  also skips requests' own redirect machinery, which reads the whole body of a 3xx answer
  (decompressed, with no limit) even when ``allow_redirects=False``;
* **always set a timeout** (per connect and per read), plus a deadline for the whole body, so
  a peer that drips one byte per read timeout cannot hold us for ever (:class:`AnswerTooSlow`);
* **cap every body** at ``max_bytes`` *decoded* bytes (:class:`AnswerTooLarge`). The cap holds
  for ``.content``, ``.text``, ``.json()`` and ``iter_content()`` alike, streamed or not.
* **keep no cookies**: federation calls authenticate with tokens; a peer's cookie would only
  travel to the next peer on the same host.

Decompression: requests (through urllib3) would gunzip transparently, and urllib3 inflates
each network read in one call with no output limit, so one 64 KiB read of a gzip bomb
becomes about 64 MB before any check of ours could run. So we read the raw, still encoded
bytes (``decode_content=False``) and inflate them ourselves with ``zlib``'s ``max_length``:
no more than ``max_bytes + 1`` decoded bytes ever exist, and the bomb stops at the cap after
reading about ``max_bytes / 1000`` bytes of it. We offer only ``gzip`` and ``deflate``; an
answer in any other content coding is refused (:class:`UnreadableAnswer`).

All these errors subclass ``requests.RequestException``, so code that already handles
network failures handles them too, and their messages are our words only. A peer's words
never are: :func:`describe` and :func:`response_detail` say what a peer answered with safe
facts only (status, our phrase for it, a short error code, a media type, byte counts), and
:func:`schema_problems` turns a validation error about a peer's document into lines that name
only fields our schema knows. Never store, show or log ``resp.text`` of a peer.
"""

from __future__ import annotations

import http
import re
import socket
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from marshmallow import Schema, fields
from requests.exceptions import ChunkedEncodingError, ReadTimeout, StreamConsumedError
from requests.utils import iter_slices, stream_decode_response_unicode

from federation import json_text

DEFAULT_TIMEOUT = 10.0
"""Seconds to connect, and between two reads, when the caller gives none."""

ANSWER_MAX_BYTES = 1024 * 1024
"""Largest (decoded) answer to a small call: tokens, discovery, key sets, access APIs, pokes."""

FEED_MAX_BYTES = 64 * 1024 * 1024
"""Largest (decoded) feed page or node descriptor the indexer reads."""

BODY_SECONDS = 120.0
"""Seconds a whole answer body may take to arrive, however steadily it drips."""

READ_SIZE = 64 * 1024  # raw (encoded) bytes per network read
PIECE = 64 * 1024  # largest decoded piece held at once

ACCEPT_ENCODING = "gzip, deflate"  # what _Inflater decodes, and nothing else

_SAFE_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_SAFE_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


# -- errors: our words only ---------------------------------------------------------------
class UnsafeAnswer(requests.RequestException):
    """We refused a peer's answer itself (not a network failure)."""


class RedirectRefused(UnsafeAnswer):
    """The peer answered with a redirect, which is never followed."""

    def __init__(self, status: int, **kwargs: Any) -> None:
        super().__init__(
            f"answered HTTP {status}, a redirect; redirects are not followed", **kwargs
        )
        self.status = status


class AnswerTooLarge(UnsafeAnswer):
    """The answer has more than ``limit`` bytes (decoded)."""

    def __init__(self, limit: int, **kwargs: Any) -> None:
        super().__init__(f"answered more than {limit:,} bytes, the most we read", **kwargs)
        self.limit = limit


class UnreadableAnswer(UnsafeAnswer):
    """The answer's encoding is not one we read, or its bytes do not decode."""


class AnswerTooSlow(UnsafeAnswer, ReadTimeout):
    """The body did not arrive in full within the deadline."""

    def __init__(self, seconds: float, **kwargs: Any) -> None:
        super().__init__(f"did not send its whole answer within {seconds:g}s", **kwargs)
        self.seconds = seconds


# -- bounded decoding -----------------------------------------------------------------------
class _Identity:
    def decode(self, data: bytes, limit: int) -> Iterator[bytes]:
        if data:
            yield data

    def finish(self, limit: int) -> Iterator[bytes]:
        return iter(())


class _Inflater:
    """gzip (several members too) or deflate (zlib-wrapped, or raw as some servers send it),
    never producing more than ``limit`` bytes per call nor more than PIECE at once."""

    def __init__(self, encoding: str) -> None:
        self.gzip = encoding in ("gzip", "x-gzip")
        self.wbits = 16 + zlib.MAX_WBITS if self.gzip else zlib.MAX_WBITS
        self.inflate = zlib.decompressobj(self.wbits)
        self.fresh = True  # nothing decoded by the current decompressor yet
        self.members = 0  # gzip members finished
        self.done = False  # the rest of the input is ignored

    def decode(self, data: bytes, limit: int) -> Iterator[bytes]:
        produced = 0
        while produced < limit and not self.done:
            try:
                out = self.inflate.decompress(data, min(PIECE, limit - produced))
            except zlib.error:
                if self.fresh and not self.gzip and self.wbits > 0:
                    self.wbits = -zlib.MAX_WBITS  # "deflate" sent without its zlib header
                    self.inflate = zlib.decompressobj(self.wbits)
                    continue
                if self.fresh and self.members:
                    self.done = True  # junk after a complete gzip member: ignored, as urllib3 does
                    return
                raise UnreadableAnswer(
                    "sent a compressed answer that does not decompress"
                ) from None
            self.fresh = False
            data = self.inflate.unconsumed_tail
            if out:
                produced += len(out)
                yield out
            if self.inflate.eof:
                rest = self.inflate.unused_data + data
                if not self.gzip:
                    self.done = True  # bytes after the end of a deflate stream: ignored
                    return
                self.members += 1
                self.inflate = zlib.decompressobj(self.wbits)  # the next gzip member, if any
                self.fresh = True
                data = rest
                if not data:
                    return
            elif not out and not data:
                return  # all input consumed, no output pending: wait for more

    def finish(self, limit: int) -> Iterator[bytes]:
        yield from self.decode(b"", limit)


def _decoder(headers: Mapping[str, str]) -> _Identity | _Inflater:
    codings = [
        c.strip().lower()
        for c in headers.get("Content-Encoding", "").split(",")
        if c.strip() and c.strip().lower() != "identity"
    ]
    if not codings:
        return _Identity()
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflater(codings[0])
    raise UnreadableAnswer("sent an answer in a content encoding we do not read")


class CappedResponse(requests.Response):
    """A response whose body is read under a byte cap and a deadline (see the module doc).

    :class:`SafeSession` turns each response it receives into one of these (the class of
    the object requests built is swapped: same fields, capped reading)."""

    max_bytes: int = ANSWER_MAX_BYTES
    started: float = 0.0  # time.monotonic() when the headers were in
    deadline: float = float("inf")  # time.monotonic() by which the body must be in
    body_seconds: float = BODY_SECONDS
    received: int = 0  # decoded bytes read so far

    def iter_content(
        self, chunk_size: int | None = 1, decode_unicode: bool = False
    ) -> Iterator[Any]:
        if self._content_consumed:
            if isinstance(self._content, bool):
                raise StreamConsumedError()
            chunks: Iterator[Any] = iter_slices(self._content or b"", chunk_size or PIECE)
        else:
            chunks = self._capped()
        if decode_unicode:
            chunks = stream_decode_response_unicode(chunks, self)
        return chunks

    def _raw_chunks(self) -> Iterator[bytes]:
        raw = self.raw
        if raw is None:
            return
        if not hasattr(raw, "stream"):  # a plain file-like object
            while chunk := raw.read(READ_SIZE):
                yield chunk
            return
        from urllib3.exceptions import ProtocolError, ReadTimeoutError, SSLError

        try:
            yield from raw.stream(READ_SIZE, decode_content=False)
        except ReadTimeoutError:
            raise ReadTimeout("did not send the rest of its answer in time") from None
        except ProtocolError:
            raise ChunkedEncodingError("broke off its answer") from None
        except SSLError:
            raise requests.exceptions.SSLError("TLS failed while reading the answer") from None

    def _capped(self) -> Iterator[bytes]:
        limit = self.max_bytes
        watchdog = _Watchdog(self, self.deadline - time.monotonic())
        try:
            decoder = _decoder(self.headers)
            declared = self.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise AnswerTooLarge(limit, response=self)  # refused before reading a byte
            wire = 0
            for raw in self._raw_chunks():
                wire += len(raw)
                if wire > limit:
                    raise AnswerTooLarge(limit, response=self)
                for piece in decoder.decode(raw, limit - self.received + 1):
                    self.received += len(piece)
                    if self.received > limit:
                        raise AnswerTooLarge(limit, response=self)
                    yield piece
                if watchdog.fired or time.monotonic() > self.deadline:
                    raise AnswerTooSlow(self.body_seconds, response=self)
            if watchdog.fired:  # the cut connection looked like the end of the body
                raise AnswerTooSlow(self.body_seconds, response=self)
            for piece in decoder.finish(limit - self.received + 1):
                self.received += len(piece)
                if self.received > limit:
                    raise AnswerTooLarge(limit, response=self)
                yield piece
        except requests.RequestException as exc:
            self.close()
            if watchdog.fired and not isinstance(exc, UnsafeAnswer):
                raise AnswerTooSlow(self.body_seconds, response=self) from None
            raise
        except BaseException:  # the reader stopped early, or worse: drop the connection
            self.close()
            raise
        finally:
            watchdog.cancel()
        self._content_consumed = True


def _socket_of(resp: requests.Response) -> socket.socket | None:
    """The socket a response is read from: urllib3's connection keeps it, unless http.client
    handed it to the response (an answer that ends with the connection)."""
    raw = resp.raw
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:  # urllib3 1.26: HTTPResponse._fp (http.client) .fp (file) .raw (SocketIO)
        sock = getattr(
            getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None
        )
    return sock if isinstance(sock, socket.socket) else None


class _Watchdog:
    """Cuts the connection of a response whose body is not in by its deadline.

    A read timeout applies to each network read, and one read of ``READ_SIZE`` bytes waits
    for all of them, so a peer sending a byte now and then would never reach our checks
    between reads. Shutting the socket down from a timer ends the blocked read at once."""

    def __init__(self, resp: requests.Response, seconds: float) -> None:
        self.resp = resp
        self.fired = False
        self.timer: threading.Timer | None = None
        if seconds != float("inf"):
            self.timer = threading.Timer(max(0.0, seconds), self._fire)
            self.timer.daemon = True
            self.timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = _socket_of(self.resp)
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


# -- the session ------------------------------------------------------------------------------
class SafeSessionMixin:
    """Makes a ``requests.Session`` (or a subclass such as authlib's ``OAuth2Session``) safe
    for federation calls; call :meth:`_make_safe` after the session's own ``__init__``."""

    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT
    max_bytes: int = ANSWER_MAX_BYTES
    body_seconds: float = BODY_SECONDS

    def _make_safe(
        self,
        timeout: float | tuple[float, float] | None,
        max_bytes: int | None,
        body_seconds: float | None,
    ) -> None:
        session: requests.Session = self  # type: ignore[assignment]
        self.timeout = timeout or DEFAULT_TIMEOUT
        self.max_bytes = max_bytes or ANSWER_MAX_BYTES
        self.body_seconds = body_seconds or BODY_SECONDS
        session.max_redirects = 0
        session.headers["Accept-Encoding"] = ACCEPT_ENCODING
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None  # requests' redirect loop never starts (and never reads a 3xx body)

    def request(
        self,
        method: str,
        url: str,
        *args: Any,
        max_bytes: int | None = None,
        body_seconds: float | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """``requests.Session.request``, plus ``max_bytes`` and ``body_seconds`` (default:
        the session's). With ``stream=True`` the body has no overall deadline unless
        ``body_seconds`` is given: its reader (a person downloading) may be slow."""
        kwargs["allow_redirects"] = False
        resp = super().request(method, url, *args, stream=True, **kwargs)  # type: ignore[misc]
        if isinstance(resp, CappedResponse):
            resp.max_bytes = max_bytes or resp.max_bytes
            if body_seconds or not stream:
                resp.body_seconds = body_seconds or self.body_seconds
                resp.deadline = resp.started + resp.body_seconds
            else:
                resp.deadline = float("inf")
        if not stream:
            resp.content  # noqa: B018 -- read now, under the cap
        return resp

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs.pop("allow_redirects", None)
        stream = kwargs.pop("stream", False)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        resp = super().send(request, stream=True, allow_redirects=False, **kwargs)  # type: ignore[misc]
        resp.__class__ = CappedResponse
        assert isinstance(resp, CappedResponse)
        resp.max_bytes = self.max_bytes
        resp.body_seconds = self.body_seconds
        resp.started = time.monotonic()
        resp.deadline = resp.started + self.body_seconds
        if 300 <= resp.status_code < 400:
            resp.close()
            raise RedirectRefused(resp.status_code, response=resp, request=request)
        if not stream:
            resp.content  # noqa: B018
        return resp


class SafeSession(SafeSessionMixin, requests.Session):  # type: ignore[misc]  # request() adds caps
    """A ``requests.Session`` for federation calls: no redirects, timeouts always, capped
    bodies, no cookies (see the module doc). Use it as a requests session::

        with SafeSession(timeout=5, max_bytes=FEED_MAX_BYTES) as http:
            resp = http.get(url, params=...)      # read, at most max_bytes
            resp = http.get(url, stream=True)     # not read yet; iter_content() is capped
            resp = http.post(url, json=..., max_bytes=64 * 1024)   # a cap for this call
    """

    def __init__(
        self,
        timeout: float | tuple[float, float] | None = DEFAULT_TIMEOUT,
        max_bytes: int | None = ANSWER_MAX_BYTES,
        body_seconds: float | None = BODY_SECONDS,
    ) -> None:
        super().__init__()
        self._make_safe(timeout, max_bytes, body_seconds)


def safe_session(
    session: requests.Session | None = None,
    *,
    timeout: float | tuple[float, float] | None = DEFAULT_TIMEOUT,
    max_bytes: int | None = ANSWER_MAX_BYTES,
    body_seconds: float | None = BODY_SECONDS,
) -> SafeSession:
    """``session`` if it is already safe; else a new :class:`SafeSession` that shares a given
    plain session's connection pools, headers, auth and TLS settings (not its redirects)."""
    if isinstance(session, SafeSession):
        return session
    safe = SafeSession(timeout, max_bytes, body_seconds)
    if session is not None:
        safe.adapters = session.adapters
        safe.headers.update({k: v for k, v in session.headers.items() if k != "Accept-Encoding"})
        safe.auth, safe.verify, safe.cert = session.auth, session.verify, session.cert
        safe.proxies, safe.trust_env = session.proxies, session.trust_env
    return safe


def request(
    method: str,
    url: str,
    *,
    timeout: float | tuple[float, float] | None = DEFAULT_TIMEOUT,
    max_bytes: int = ANSWER_MAX_BYTES,
    body_seconds: float | None = None,
    **kwargs: Any,
) -> requests.Response:
    """One safe call on a fresh :class:`SafeSession` (like ``requests.request``); with
    ``stream=True`` the body is left unread and ``iter_content()`` is capped.
    ``body_seconds``: the whole body's deadline (default BODY_SECONDS; none for a stream)."""
    with SafeSession(timeout, max_bytes, body_seconds) as session:
        return session.request(method, url, body_seconds=body_seconds, **kwargs)


# -- what a peer answered, in our words ------------------------------------------------------
def json_body(resp: requests.Response) -> Any:
    """The answer's JSON (read under the cap); :class:`UnreadableAnswer` if it is not JSON.

    Also catches what ``json`` raises for absurd nesting (RecursionError), which is not a
    ValueError."""
    try:  # orjson where it reads as json does (a harvest reads megabytes of feed)
        return json_text.loads(resp.content)
    except (ValueError, RecursionError):
        raise UnreadableAnswer(f"answered malformed JSON ({describe_body(resp)})") from None


def error_code(resp: requests.Response) -> str | None:
    """The ``error`` of a JSON error answer when it is a short code (``resync_required``,
    ``client_not_allowed``); None otherwise. Safe to store: it matches a strict pattern."""
    try:
        body = json_body(resp)
    except requests.RequestException:
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) and _SAFE_CODE.match(code) else None


def media_type(resp: requests.Response) -> str:
    """The answer's media type (``application/json``) if it looks like one, else a phrase."""
    value = resp.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if not value:
        return "no content type"
    return value if _SAFE_MEDIA_TYPE.match(value) else "an unnamed content type"


def describe_body(resp: requests.Response) -> str:
    """``"1,234 bytes of text/html"``: what the body was, never what it said."""
    content = resp._content  # only what was read already: describing reads nothing
    if isinstance(content, bytes):
        return f"{len(content):,} bytes of {media_type(resp)}"
    return f"a body of {media_type(resp)}"


def status_phrase(status: int) -> str:
    """Our phrase for an HTTP status (``Conflict``), not the peer's reason text."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "an unknown status"


def response_detail(resp: requests.Response) -> str:
    """What a refusing peer said, in our words: its short error code if it sent one (see
    :func:`error_code`), else our phrase for the status. Never the peer's text."""
    return error_code(resp) or status_phrase(resp.status_code)


def describe(resp: requests.Response) -> str:
    """``HTTP 500 (Internal Server Error), 312 bytes of text/html``: a line to store or show."""
    code = error_code(resp)
    what = f"error code {code}" if code else status_phrase(resp.status_code)
    return f"HTTP {resp.status_code} ({what}), {describe_body(resp)}"


def identifier(value: Any, limit: int = 64) -> str | None:
    """``value`` if it is a short identifier (letters, digits, ``. _ : -``), else None: the
    only form in which a peer-chosen name (a node id, a record id) may be repeated."""
    if isinstance(value, str) and len(value) <= limit and _IDENTIFIER.match(value):
        return value
    return None


# -- validation problems about a peer's document ------------------------------------------
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_MESSAGE_MAX = 300


def _safe_message(message: Any) -> str:
    """A validation message with any quoted value that is not a short identifier masked:
    some of our messages repeat the offending value (``'xyz' is not a cell type``)."""

    def mask(match: re.Match[str]) -> str:
        inner = match.group(0)[1:-1]
        return match.group(0) if identifier(inner, 40) else "'…'"

    text = _QUOTED.sub(mask, str(message))
    text = "".join(c if c.isprintable() else " " for c in text)
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…"


def _field_of(schema: Schema | None, key: str) -> fields.Field | None:
    if schema is None:
        return None
    for name, field in schema.fields.items():
        if (field.data_key or name) == key:
            return field
    return None


def _inner_schema(field: fields.Field | None) -> Schema | None:
    """The schema a nested field's values are checked against (Nested, List of Nested)."""
    while isinstance(field, fields.List):
        field = field.inner
    if isinstance(field, fields.Nested):
        nested = field.schema
        return nested if isinstance(nested, Schema) else None
    return None


def _problem_items(messages: Any, schema: Schema | None, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(messages, dict):
        unknown = 0
        for key, value in messages.items():
            if key == "_schema":
                yield from _problem_items(value, schema, path)
            elif isinstance(key, int):
                yield from _problem_items(value, schema, f"{path}[{key}]")
            elif (field := _field_of(schema, str(key))) is not None:
                child = f"{path}.{key}" if path else str(key)
                if isinstance(field, fields.Mapping) and isinstance(value, dict):
                    # its keys were chosen by the peer: count them, never name them
                    entries = "1 entry is" if len(value) == 1 else f"{len(value)} entries are"
                    yield child, f"{entries} not valid"
                else:
                    yield from _problem_items(value, _inner_schema(field), child)
            else:
                unknown += 1
        if unknown:
            plural = "s" if unknown > 1 else ""
            yield path, f"{unknown} field{plural} this schema does not know"
        return
    if isinstance(messages, list):
        for message in messages:
            yield from _problem_items(message, schema, path)
        return
    yield path, _safe_message(messages)


def schema_problems(messages: Any, schema: Schema | None, limit: int = 10) -> list[str]:
    """Lines for a ``ValidationError.messages`` about a peer's document, safe to store and
    show: paths name only fields that ``schema`` declares (list positions as ``[i]``; a field
    the schema does not know is counted, not named), and values quoted in our messages are
    masked unless they are short identifiers. At most ``limit`` lines, then a count."""
    items = _problem_items(messages, schema, "")
    lines = [f"{path}: {message}" if path else message for path, message in items]
    if len(lines) > limit:
        lines = [*lines[:limit], f"and {len(lines) - limit} more problems"]
    return lines
