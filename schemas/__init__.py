"""The catalogue's shape: marshmallow schemas shared by member nodes, the indexer and the portal.

Nodes validate on import and write, the indexer validates again on harvest: never trust the wire.
"""

from schemas.catalogue import (
    KINDS,
    SCHEMA_VERSION,
    BiobankSchema,
    CellLineSchema,
    CollectionSchema,
    schema_for,
)
from schemas.errors import format_errors
from schemas.feed import FeedEntrySchema, FeedPageSchema, NodeDescriptorSchema

__all__ = [
    "KINDS",
    "SCHEMA_VERSION",
    "BiobankSchema",
    "CellLineSchema",
    "CollectionSchema",
    "FeedEntrySchema",
    "FeedPageSchema",
    "NodeDescriptorSchema",
    "format_errors",
    "schema_for",
]
