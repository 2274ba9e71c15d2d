"""The alliance member registry: a TOML file listing each node's id, name and URL.

[[member]]
id = "de-stemcellbank"
name = "Berlin Stem Cell Bank"
url = "http://127.0.0.1:5102"
mode = "pull"     # optional; "push": the node pushes its pages and polls, nobody calls it
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MODES = ("pull", "push")  # pull: the indexer reads the node's feed; push: the node sends it


class RegistryError(ValueError):
    """The registry file is unreadable or wrong; the message names the file and entry."""


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    url: str
    mode: str = "pull"

    @property
    def pushes(self) -> bool:
        """Push mode: the indexer and the portal never connect to this node."""
        return self.mode == "push"

    @property
    def feed_url(self) -> str:
        return f"{self.url.rstrip('/')}/api/v1/feed"

    @property
    def descriptor_url(self) -> str:
        return f"{self.url.rstrip('/')}/api/v1/node"


def parse_members(data: dict, source: str = "<members>") -> list[Member]:
    entries = data.get("member")
    if not isinstance(entries, list):
        raise RegistryError(f"{source}: expected [[member]] tables")
    members: list[Member] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries, start=1):
        where = f"{source}: member #{i}"
        if not isinstance(entry, dict):
            raise RegistryError(f"{where}: expected a table")
        unknown = set(entry) - {"id", "name", "url", "mode"}
        if unknown:
            raise RegistryError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        node_id, url = entry.get("id"), entry.get("url")
        if not isinstance(node_id, str) or not NODE_ID.match(node_id):
            raise RegistryError(f"{where}: 'id' must be letters, digits, . _ - (got {node_id!r})")
        if node_id in seen:
            raise RegistryError(f"{where}: duplicate id {node_id!r}")
        if not isinstance(url, str):
            raise RegistryError(f"{where} ({node_id}): 'url' must be an http(s) URL (got {url!r})")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RegistryError(f"{where} ({node_id}): 'url' must be an http(s) URL (got {url!r})")
        mode = entry.get("mode", "pull")
        if mode not in MODES:
            raise RegistryError(
                f"{where} ({node_id}): 'mode' must be one of {', '.join(MODES)} (got {mode!r})"
            )
        seen.add(node_id)
        members.append(Member(node_id, str(entry.get("name") or node_id), url, mode))
    return members


def load_members(path: str | Path) -> list[Member]:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise RegistryError(f"member registry {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: not valid TOML: {exc}") from None
    return parse_members(data, str(path))
