"""A member node's instance file: the TOML settings file one node runs with.

``cellfed node init`` writes it (:func:`init_node`): the node's id, name and public URL, the
production switches (``ENV``, ``FEED_REQUIRE_TOKEN``, ``NODE_ADMIN_OPEN``), its database,
and secrets generated here (``SECRET_KEY``, ``PSEUDONYM_KEY``), mode 0600, never over an
existing file unless asked. ``cellfed alliance add-member --instance`` later puts the node's
client secret in it (:func:`set_setting`). The settings loader (cellfed/config.py) reads the
file named by ``CELLFED_CONFIG``, else ``instance/cellfed.toml`` in the working directory,
which is where ``node init`` writes by default.

Every key written is a setting the loader knows (it refuses any other), and every file is
checked by loading it back before it takes the place of the old one.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellfed.config import DEFAULTS, load_config, production_problems

INSTANCE_DIR = "instance"
INSTANCE_NAME = "cellfed.toml"
SECRET_BYTES = 48  # token_urlsafe(48): 64 characters, twice the production minimum
FILE_MODE = 0o600


class InstanceError(RuntimeError):
    """The instance file cannot be written as asked; the message says why."""


def toml_value(value: Any) -> str:
    """A TOML literal for a setting's value: text, a boolean, a number or a list of text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if not isinstance(value, str):
        raise TypeError(f"no TOML form for {type(value).__name__}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", escaped) + '"'


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


@dataclass(frozen=True)
class NodeInstance:
    """What ``cellfed node init`` is told; None leaves a setting to its default."""

    node_id: str
    name: str
    url: str
    issuer: str | None = None
    portal_url: str | None = None
    indexer_url: str | None = None  # INDEXER_POKE_URL
    database_url: str | None = None  # None: a SQLite file beside the instance file
    contact_email: str | None = None
    production: bool = True


def _sections(node: NodeInstance, directory: Path) -> list[tuple[str, dict[str, Any]]]:
    database = node.database_url or f"sqlite:///{(directory / 'node.sqlite3').resolve()}"
    identity = {"OIDC_ISSUER": node.issuer, "PORTAL_URL": node.portal_url}
    return [
        (
            "The node",
            {
                "ENV": "production" if node.production else "development",
                "NODE_ID": node.node_id,
                "NODE_NAME": node.name,
                "NODE_URL": node.url,
                "DATABASE_URL": database,
                "NODE_CONTACT_EMAIL": node.contact_email,
            },
        ),
        (
            "Only the indexer's token reads the feed; the admin pages need a login",
            {"FEED_REQUIRE_TOKEN": True, "NODE_ADMIN_OPEN": False},
        ),
        ("The alliance", {**identity, "INDEXER_POKE_URL": node.indexer_url}),
        (
            "Secrets made by `cellfed node init`: keep them, and keep this file private.\n"
            "# A new PSEUDONYM_KEY gives every Directory contact a new pseudonym",
            {"SECRET_KEY": new_secret(), "PSEUDONYM_KEY": new_secret()},
        ),
    ]


PLACEHOLDERS = {
    "OIDC_ISSUER": "https://idp.example.org/realms/alliance",
    "PORTAL_URL": "https://portal.example.org",
    "INDEXER_POKE_URL": "https://indexer.example.org",
}
LATER = {
    "OIDC_CLIENT_SECRET": (
        "The node's client secret: `cellfed alliance add-member --instance` writes it\n"
        "# here; or set the one the alliance's operator gives you"
    )
}


def render(node: NodeInstance, directory: Path) -> str:
    """The instance file's text: the settings by section, the unset ones as comments."""
    today = dt.date.today().isoformat()
    lines = [
        f"# CellFed member node {node.node_id}: written by `cellfed node init` on {today}.",
        "# Every key is a CellFed setting (cellfed/config.py); CELLFED_<KEY> in the",
        "# environment overrides it.",
    ]
    for title, settings in _sections(node, directory):
        lines += ["", f"# {title}."]
        for key, value in settings.items():
            if value is not None:
                lines.append(f"{key} = {toml_value(value)}")
            elif key in PLACEHOLDERS:
                lines.append(f"# {key} = {toml_value(PLACEHOLDERS[key])}")
    for key, why in LATER.items():
        lines += ["", f"# {why}:", f'# {key} = "..."']
    return "\n".join(lines) + "\n"


def _loaded(path: Path) -> dict[str, Any]:
    """The settings as a node started with only this file would have them (raises
    ConfigError for a key or value the loader refuses)."""
    return load_config(env={"CELLFED_CONFIG": str(path)})


def _write_checked(path: Path, text: str, replace: bool) -> None:
    """Write ``text`` to ``path`` (mode 0600) only if it loads as settings; atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        _loaded(Path(staged))
        if replace:
            os.replace(staged, path)
        else:
            try:
                os.link(staged, path)  # fails if the file appeared meanwhile
            except FileExistsError:
                raise InstanceError(f"{path} exists: pass --force to replace it") from None
    finally:
        Path(staged).unlink(missing_ok=True)


def instance_path(directory: Path) -> Path:
    return Path(directory) / INSTANCE_NAME


def init_node(node: NodeInstance, directory: Path, force: bool = False) -> Path:
    """Write ``<directory>/cellfed.toml`` for ``node`` with new secrets; returns its path.

    Refuses an existing file unless ``force`` (its secrets would be lost: the sessions,
    and the pseudonyms of Directory contacts, would change)."""
    from federation.registry import RegistryError, parse_members

    try:  # the id and URL as the alliance's registry will take them
        parse_members({"member": [{"id": node.node_id, "name": node.name, "url": node.url}]})
    except RegistryError as exc:
        raise InstanceError(re.sub(r"^.*?member #1( \(.*?\))?: ", "", str(exc))) from None
    path = instance_path(directory)
    if path.exists() and not force:
        raise InstanceError(f"{path} exists: pass --force to replace it (with new secrets)")
    _write_checked(path, render(node, Path(directory)), replace=force)
    return path


def set_setting(path: Path, key: str, value: Any) -> None:
    """Set one setting in an instance file: its line replaced (or the commented one, as
    ``node init`` leaves it), else added at the end. Comments and other lines stay."""
    key = key.upper()
    if key not in DEFAULTS:
        raise InstanceError(f"{key} is not a CellFed setting")
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    line = f"{key} = {toml_value(value)}"
    for pattern in (rf"(?im)^[ \t]*{key}[ \t]*=.*$", rf"(?im)^#[ \t]*{key}[ \t]*=.*$"):
        text, found = re.subn(pattern, lambda _: line, text, count=1)
        if found:
            break
    else:
        text = f"{text.rstrip()}\n{line}\n".lstrip()
    _write_checked(path, text, replace=True)


def remaining_problems(path: Path) -> list[str]:
    """What a node with only this file still needs: what would stop it from starting in
    production (cellfed/config.py), then what it needs to take part in the alliance."""
    config = _loaded(path)
    problems = production_problems(config, "node")
    if not config.get("OIDC_CLIENT_SECRET"):
        problems.append(
            "OIDC_CLIENT_SECRET is not set: without it nobody logs in at the node and it "
            "reports no decision to the portal; `cellfed alliance add-member --instance` sets it"
        )
    if config.get("PORTAL_URL") == DEFAULTS["PORTAL_URL"]:
        problems.append(f"PORTAL_URL is the development default ({DEFAULTS['PORTAL_URL']})")
    return problems


def settings_of(path: Path) -> Mapping[str, Any]:
    """The settings a node started with only this file has."""
    return _loaded(path)
