"""The catalogue's shape: marshmallow schemas shared by member nodes, the indexer and the portal.

Nodes validate on import and write, the indexer validates again on harvest: never trust the wire.
"""

from schemas.catalogue import (
    KINDS,
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    BiobankSchema,
    CellLineSchema,
    CollectionSchema,
    NetworkSchema,
    per_thread,
    schema_for,
)
from schemas.errors import format_errors
from schemas.feed import FeedEntrySchema, FeedPageSchema, NodeDescriptorSchema

__all__ = [
    "KINDS",
    "READABLE_SCHEMA_VERSIONS",
    "SCHEMA_VERSION",
    "BiobankSchema",
    "CellLineSchema",
    "CollectionSchema",
    "FeedEntrySchema",
    "FeedPageSchema",
    "NetworkSchema",
    "NodeDescriptorSchema",
    "format_errors",
    "per_thread",
    "schema_for",
]
