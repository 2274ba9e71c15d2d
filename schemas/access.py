"""Access requests on the wire: a part the portal delivers to a node, a researcher's action
the portal relays, and the events a node reports back. Each side validates what it receives,
and each sender builds what it sends through the same schema (:func:`to_wire`), so a field is
added here once and a payload the receiver would refuse fails at the sender, before anything
is stored or queued.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from schemas.catalogue import LOCAL_ID
from schemas.consent import ProjectConsentSchema
from schemas.jurisdiction import RULE_ID
from schemas.lifecycle import CONDITIONS, MAX_TEXT, TRANSITIONS, Actor, State
from schemas.validators import COUNTRY

OBJECT_ID = validate.Regexp(r"^[0-9a-f]{32}$", error="must be 32 lowercase hex digits")

# The research purpose, as a Data Use Ontology permission term (EBISPOT/DUO).
INTENDED_USES = {
    "DUO:0000042": "General research use",
    "DUO:0000006": "Health, medical or biomedical research",
    "DUO:0000007": "Disease-specific research",
    "DUO:0000011": "Population origins or ancestry research",
    "DUO:0000043": "Clinical care use",
}
DISEASE_SPECIFIC = "DUO:0000007"
REQUESTABLE_KINDS = ("cell_line", "collection")
MAX_VIALS = 1000  # per item of a request
RESEARCHER_EVENTS = ("withdraw", "provide_info", "message", "confirm_receipt", "evidence")


class ResearcherSchema(Schema):
    class Meta:
        unknown = RAISE

    iss = fields.Str(required=True, validate=validate.Length(min=1, max=500))
    sub = fields.Str(required=True, validate=validate.Length(min=1, max=255))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True, allow_none=True)


class ProjectSchema(Schema):
    class Meta:
        unknown = RAISE

    title = fields.Str(required=True, validate=validate.Length(min=3, max=200))
    description = fields.Str(required=True, validate=validate.Length(min=20, max=MAX_TEXT))
    intended_use = fields.Str(required=True, validate=validate.OneOf(tuple(INTENDED_USES)))
    disease = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))
    commercial = fields.Bool(load_default=False)
    ethics_ref = fields.Str(required=True, validate=validate.Length(min=2, max=200))

    @validates_schema
    def _disease_when_disease_specific(self, data: dict, **_: object) -> None:
        if data["intended_use"] == DISEASE_SPECIFIC and not (data.get("disease") or "").strip():
            raise ValidationError("name the disease for disease-specific research", "disease")

    # Terms that match (schemas/item_terms.py): the consent declaration, who asks from where,
    # and references for the jurisdiction rules a requested item is subject to. Optional and
    # without defaults, so a project without them stays valid and dumps unchanged.
    consent = fields.Nested(ProjectConsentSchema)
    country = fields.Str(validate=COUNTRY)
    institution = fields.Str(validate=validate.Length(min=2, max=300))
    jurisdiction_references = fields.Dict(
        keys=fields.Str(validate=validate.Regexp(RULE_ID, error="is not a rule id")),
        values=fields.Str(validate=validate.Length(min=1, max=200)),
    )

    @validates_schema
    def _who_declares_consent(self, data: dict, **_: object) -> None:
        if data.get("consent") is None:
            return
        for name in ("country", "institution"):
            if not data.get(name):
                raise ValidationError("is needed with a consent declaration", name)


class ItemSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.Str(required=True, validate=validate.OneOf(REQUESTABLE_KINDS))
    id = fields.Str(required=True, validate=LOCAL_ID)
    name = fields.Str(required=True, validate=validate.Length(min=1, max=300))
    # Stock-aware requests (issue 11): how many vials, optionally of which lot. Absent on
    # older parts (no default, so their content hashes stay as they were): one vial.
    quantity = fields.Int(strict=True, validate=validate.Range(min=1, max=MAX_VIALS))
    lot_id = fields.Str(validate=LOCAL_ID)


class AttachmentRefSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.Str(required=True, validate=OBJECT_ID)
    filename = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    content_type = fields.Str(required=True, validate=validate.Length(min=3, max=100))
    size = fields.Int(required=True, strict=True, validate=validate.Range(min=1))
    sha256 = fields.Str(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class PartSchema(Schema):
    """One biobank's share of a request, as the portal delivers it to the node."""

    class Meta:
        unknown = RAISE

    id = fields.Str(required=True, validate=OBJECT_ID)
    request_id = fields.Str(required=True, validate=OBJECT_ID)
    node_id = fields.Str(required=True, validate=LOCAL_ID)
    biobank_id = fields.Str(required=True, validate=LOCAL_ID)
    biobank_name = fields.Str(required=True, validate=validate.Length(min=1, max=300))
    submitted_at = fields.AwareDateTime(required=True, format="iso")
    researcher = fields.Nested(ResearcherSchema, required=True)
    project = fields.Nested(ProjectSchema, required=True)
    items = fields.List(
        fields.Nested(ItemSchema), required=True, validate=validate.Length(min=1, max=200)
    )
    attachments = fields.List(fields.Nested(AttachmentRefSchema), load_default=list)


class EvidenceRefSchema(Schema):
    """The researcher's evidence for a condition (issue 11): a document kept at the portal."""

    class Meta:
        unknown = RAISE

    condition = fields.Str(required=True, validate=validate.OneOf(tuple(CONDITIONS)))
    kind = fields.Str(required=True, validate=validate.Length(min=1, max=32))
    attachment = fields.Nested(AttachmentRefSchema, required=True)


class ActionSchema(Schema):
    """A researcher's action on a part, relayed by the portal; its id makes it idempotent."""

    class Meta:
        unknown = RAISE

    id = fields.Str(required=True, validate=OBJECT_ID)
    type = fields.Str(required=True, validate=validate.OneOf(RESEARCHER_EVENTS))
    text = fields.Str(load_default="", validate=validate.Length(max=MAX_TEXT))
    actor_name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    actor_sub = fields.Str(required=True, validate=validate.Length(min=1, max=255))
    at = fields.AwareDateTime(required=True, format="iso")
    evidence = fields.Nested(EvidenceRefSchema)  # an "evidence" action only


class EventDocumentSchema(Schema):
    """A biobank's document sent with its evidence event (its MTA, its countersignature), so
    the portal never has to call the node for it. The receiver checks the bytes again."""

    class Meta:
        unknown = RAISE

    filename = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    content = fields.Str(required=True, validate=validate.Length(min=1))  # base64


class EventSchema(Schema):
    """One entry of a part's history, numbered by the node."""

    class Meta:
        unknown = EXCLUDE  # forward compatible

    id = fields.Str(required=True, validate=OBJECT_ID)
    part_id = fields.Str(required=True, validate=OBJECT_ID)
    seq = fields.Int(required=True, strict=True, validate=validate.Range(min=1))
    type = fields.Str(required=True, validate=validate.OneOf(tuple(TRANSITIONS)))
    actor = fields.Str(required=True, validate=validate.OneOf([a.value for a in Actor]))
    actor_name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    actor_sub = fields.Str(load_default=None, allow_none=True)
    at = fields.AwareDateTime(required=True, format="iso")
    state = fields.Str(required=True, validate=validate.OneOf([s.value for s in State]))
    text = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=MAX_TEXT))
    conditions = fields.List(
        fields.Str(validate=validate.OneOf(tuple(CONDITIONS))), load_default=list
    )
    document = fields.Nested(EventDocumentSchema)  # a biobank's evidence event only

    @validates_schema
    def _consistent_with_the_lifecycle(self, data: dict, **_: object) -> None:
        """An event must be one the state machine can produce: its actor may send it, and a
        state-changing event lands in that event's target state."""
        transition = TRANSITIONS[data["type"]]
        if Actor(data["actor"]) not in transition.actors:
            raise ValidationError(f"a {data['actor']} cannot {data['type']}", "actor")
        if transition.target is not None and data["state"] != transition.target.value:
            raise ValidationError(
                f"{data['type']} leads to {transition.target.value}, not {data['state']}", "state"
            )


def to_wire(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (in wire form) exactly as its receiver will read it: loaded with the
    receiver's ``schema``, so anything it would refuse raises ValidationError here, at the
    sender, then dumped back to JSON types."""
    return schema.dump(schema.load(data))
