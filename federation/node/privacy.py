"""The node's count privacy policy: which collection facts may leave the node, and how.

A biobank is sovereign over its counts. The store keeps them exact (the node's own people
see them in the admin pages); every exit of the node (the feed, the publish API's records,
every export format) passes records through :func:`publishable_record`, so no count below
the threshold ``k`` ever leaves: it is left out ("hide") or replaced by the flag
``<count>_below: k`` ("show_lt", shown as "< k"). Counts at or above k may be rounded to a
multiple of ``rounding``, never to a number below k.

A fact that under "hide" keeps no count at all is left out whole: that the combination
exists would tell that it has at least one donor.

Known limit: this is cell suppression, not complementary suppression. Where a node also
publishes totals (facts with a dimension left out), a hidden cell may be worked out by
subtracting the published ones from the total; a node that needs more publishes fewer
totals or a larger k.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from federation import json_text
from federation.protocol import canonical_form, content_hash
from schemas.facts import COUNTS, FactSchema, below

BELOW_CHOICES = ("hide", "show_lt")
ROUNDING_CHOICES = (0, 5, 10)
POLICY_KEY = "cellfed.facts_policy"
_FACTS = FactSchema(many=True)


@dataclass(frozen=True)
class FactsPolicy:
    min_count: int = 10
    below: str = "show_lt"
    rounding: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int):
            raise ValueError(f"FACTS_MIN_COUNT must be a whole number, got {self.min_count!r}")
        if self.min_count < 1:
            raise ValueError(f"FACTS_MIN_COUNT must be at least 1, got {self.min_count}")
        if self.below not in BELOW_CHOICES:
            raise ValueError(
                f"FACTS_BELOW must be one of {', '.join(BELOW_CHOICES)}, got {self.below!r}"
            )
        if self.rounding not in ROUNDING_CHOICES:
            choices = ", ".join(map(str, ROUNDING_CHOICES))
            raise ValueError(f"FACTS_ROUNDING must be one of {choices}, got {self.rounding!r}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FactsPolicy:
        return cls(
            min_count=config.get("FACTS_MIN_COUNT", 10),
            below=config.get("FACTS_BELOW", "show_lt"),
            rounding=config.get("FACTS_ROUNDING", 0),
        )

    def rounded(self, value: int) -> int:
        """``value`` (at least k) to the nearest multiple of ``rounding``, but not below k."""
        if not self.rounding:
            return value
        step = self.rounding
        nearest = int(math.floor(value / step + 0.5)) * step
        return nearest if nearest >= self.min_count else math.ceil(value / step) * step


def publishable_fact(fact: Mapping[str, Any], policy: FactsPolicy) -> dict[str, Any] | None:
    """The fact as it may leave the node, or None when nothing of it may."""
    out = {k: v for k, v in fact.items() if k not in COUNTS and k not in map(below, COUNTS)}
    kept = False
    for count in COUNTS:
        value, flag = fact.get(count), fact.get(below(count))
        if value is not None and value >= policy.min_count:
            out[count] = policy.rounded(value)
            kept = True
        elif (value is not None or flag is not None) and policy.below == "show_lt":
            # Already "fewer than flag": never say fewer than less than k.
            out[below(count)] = max(policy.min_count, flag or 0)
            kept = True
    return out if kept else None


def publishable_facts(facts: list[Mapping[str, Any]], policy: FactsPolicy) -> list[dict[str, Any]]:
    """Every fact as it may leave the node, in order; those with nothing left dropped."""
    published = (publishable_fact(f, policy) for f in facts)
    return [f for f in published if f is not None]


def publishable_record(kind: str, record: dict[str, Any], policy: FactsPolicy) -> dict[str, Any]:
    """A record as it may leave the node: a collection's facts through the policy."""
    if kind != "collection" or not record or not record.get("facts"):
        return record
    facts = publishable_facts(record["facts"], policy)
    out = {k: v for k, v in record.items() if k != "facts"}
    if facts:
        out["facts"] = facts
    return out


def publishable_entry(entry: dict[str, Any], policy: FactsPolicy) -> dict[str, Any]:
    """A feed entry as it may leave the node; its hash is of the record it now carries, so
    the indexer's check holds."""
    record = entry.get("record")
    if not record:
        return entry
    published = publishable_record(entry["kind"], record, policy)
    if published is record:
        return entry
    return {**entry, "record": published, "hash": content_hash(published)}


POLICED_KINDS = frozenset({"collection"})
"""The kinds whose published content may differ from what is stored: publishable_record
leaves a record of any other kind as it is (tests/unit/test_feed_body.py checks)."""


def publishable_stored(
    kind: str, text: str, digest: str, policy: FactsPolicy
) -> tuple[str | bytes, str]:
    """A stored record's canonical text and hash as they may leave the node: as stored,
    unless the policy changes what it publishes (a collection's facts); then the text and
    hash of the record it publishes, as :func:`publishable_entry` would send."""
    if kind not in POLICED_KINDS:
        return text, digest
    record = json_text.loads(text)
    published = publishable_record(kind, record, policy)
    if published is record:
        return text, digest
    return canonical_form(published)


def keep_exact_facts(
    records: list[tuple[str, dict[str, Any]]], stored: Any, policy: FactsPolicy
) -> list[tuple[str, dict[str, Any]]]:
    """Records to import, where a collection's facts are exactly what the node publishes of
    its stored facts (an export of this node, imported back) keeping the stored exact ones:
    re-importing one's own export must not replace exact counts by "< k"."""
    out = []
    for kind, record in records:
        if kind == "collection" and record.get("facts"):
            kept = stored.get(kind, record["id"]) or {}
            exact = kept.get("facts") or []  # as stored: dumped, dates as text
            incoming = _FACTS.dump(record["facts"])
            if exact and publishable_facts(exact, policy) == incoming:
                record = {**record, "facts": _FACTS.load(exact)}
        out.append((kind, record))
    return out


class PublishedCatalogue:
    """A record reader (federation/node/store.py RecordReader) that hands out records only
    as they may leave the node: what every export reads."""

    def __init__(self, reader: Any, policy: FactsPolicy) -> None:
        self.reader, self.policy = reader, policy

    def records(self, kind: str, withdrawn: bool = False) -> list[dict[str, Any]]:
        return [
            publishable_record(kind, r, self.policy)
            for r in self.reader.records(kind, withdrawn=withdrawn)
        ]


def install_policy(app: Flask) -> FactsPolicy:
    """Check the app's policy settings once, at start-up, and keep the policy."""
    policy = FactsPolicy.from_config(app.config)
    app.extensions[POLICY_KEY] = policy
    return policy


def policy_of(app: Flask) -> FactsPolicy:
    """The policy of a node app (the CLI, tests); read from its config if not installed."""
    return app.extensions.get(POLICY_KEY) or FactsPolicy.from_config(app.config)


def current_policy() -> FactsPolicy:
    """The policy of the node app handling this request."""
    return policy_of(current_app)
