"""The publish API's wire format: node descriptor and change-feed pages.

Records inside entries are validated separately (per kind) so one bad record can be
quarantined without rejecting its page.
"""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from schemas.catalogue import KINDS, LOCAL_ID

OPS = ("upsert", "delete")


class FeedEntrySchema(Schema):
    class Meta:
        unknown = EXCLUDE  # forward compatible: newer nodes may add envelope fields

    seq = fields.Int(required=True, strict=True, validate=validate.Range(min=1))
    kind = fields.Str(required=True, validate=validate.OneOf(tuple(KINDS)))
    id = fields.Str(required=True, validate=LOCAL_ID)
    op = fields.Str(required=True, validate=validate.OneOf(OPS))
    schema_version = fields.Str(required=True)
    hash = fields.Str(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    modified = fields.AwareDateTime(required=True)
    record = fields.Dict(allow_none=True, load_default=None)

    @validates_schema
    def _upsert_has_record(self, data: dict, **_: object) -> None:
        if data["op"] == "upsert" and not isinstance(data.get("record"), dict):
            raise ValidationError("an upsert carries its record", "record")


class FeedPageSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    node_id = fields.Str(required=True, validate=LOCAL_ID)
    after = fields.Int(required=True, strict=True, validate=validate.Range(min=0))
    next_cursor = fields.Int(required=True, strict=True, validate=validate.Range(min=0))
    latest_seq = fields.Int(required=True, strict=True, validate=validate.Range(min=0))
    has_more = fields.Bool(required=True)
    # The store's life: a new one means its sequence numbers started over (a restore).
    epoch = fields.Int(load_default=None, allow_none=True, strict=True)
    # Entries are checked one by one by the harvester, so a bad one is skipped, not fatal.
    entries = fields.List(fields.Raw(), required=True)


class NodeDescriptorSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    node_id = fields.Str(required=True, validate=LOCAL_ID)
    name = fields.Str(required=True)
    schema_versions = fields.List(fields.Str(), required=True)
    feed_url = fields.Str(required=True)
    latest_seq = fields.Int(required=True)
    epoch = fields.Int(load_default=None, allow_none=True, strict=True)
    counts = fields.Dict(keys=fields.Str(), values=fields.Int())
