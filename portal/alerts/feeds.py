"""Atom 1.0 feeds (RFC 4287) of saved searches: one entry per announced line.

Built with ElementTree, so the XML is well-formed whatever the text (escaping is the
serialiser's); characters XML 1.0 cannot carry at all are dropped first. Ids are
``urn:uuid:`` URIs (RFC 4122): the feed's is random, kept with the saved search, so it
stays the same when its private URL is rotated; an entry's is derived from the feed's and
the line's event (uid, new or available again, the node's sequence), so a feed reader sees
each event once and the same event always under the same id. ``updated`` is RFC 3339 in
UTC. Every entry links the record's page.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml"
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Entry:
    id: str  # an IRI: urn:uuid:...
    title: str
    link: str  # the record page
    updated: dt.datetime
    summary: str
    category: str  # "new" or "available"


@dataclass(frozen=True)
class Feed:
    id: str
    title: str
    subtitle: str
    self_url: str  # this feed
    alternate_url: str  # the search on the portal
    updated: dt.datetime
    entries: tuple[Entry, ...]


def xml_text(value: object) -> str:
    return NOT_XML.sub("", str(value))


def rfc3339(moment: dt.datetime) -> str:
    """UTC, seconds, ``Z``: ``2026-02-12T09:30:00Z`` (naive times are taken as UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def urn_uuid(value: uuid.UUID) -> str:
    return f"urn:uuid:{value}"


def entry_id(feed_uuid: str, uid: str, reason: str, event_seq: int) -> str:
    """The same event of the same line in the same feed always has the same id."""
    return urn_uuid(uuid.uuid5(uuid.UUID(feed_uuid), f"{uid}|{reason}|{event_seq}"))


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def render(feed: Feed) -> bytes:
    """The feed as an XML document (UTF-8, with its declaration)."""
    root = ET.Element("feed", xmlns=ATOM)  # every element in the Atom namespace
    _add(root, "id", feed.id)
    _add(root, "title", feed.title, type="text")
    _add(root, "subtitle", feed.subtitle, type="text")
    _add(root, "updated", rfc3339(feed.updated))
    _add(root, "link", rel="self", type=MEDIA_TYPE, href=feed.self_url)
    _add(root, "link", rel="alternate", type="text/html", href=feed.alternate_url)
    author = _add(root, "author")
    _add(author, "name", "CellFed alliance catalogue")
    _add(root, "generator", "CellFed")
    for entry in feed.entries:
        element = _add(root, "entry")
        _add(element, "id", entry.id)
        _add(element, "title", entry.title, type="text")
        _add(element, "updated", rfc3339(entry.updated))
        _add(element, "link", rel="alternate", type="text/html", href=entry.link)
        _add(element, "category", term=entry.category)
        _add(element, "summary", entry.summary, type="text")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def latest(moments: Iterable[dt.datetime], default: dt.datetime) -> dt.datetime:
    """The feed's ``updated``: its newest entry's, else when the search was saved."""
    aware = [m if m.tzinfo else m.replace(tzinfo=dt.UTC) for m in moments]
    start = default if default.tzinfo else default.replace(tzinfo=dt.UTC)
    return max(aware, default=start)
