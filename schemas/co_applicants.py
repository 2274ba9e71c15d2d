"""A part's co-applicants on the wire: the portal sends each node the whole current list
whenever it changes (portal/access/collaborators.py), and the node keeps it beside the part
(federation/node/inbox/co_applicants.py). Sent whole, in order per part (the outbox's key),
so the latest message is the truth and a repeat changes nothing."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from schemas.access import OBJECT_ID

MAX_CO_APPLICANTS = 50  # far above COLLABORATORS_MAX: a bound the node keeps on its own


class CoApplicantSchema(Schema):
    class Meta:
        unknown = RAISE

    # None until the invited person signed in (the portal knows the name from their login)
    name = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))
    email = fields.Email(required=True, validate=validate.Length(max=320))
    added_at = fields.AwareDateTime(required=True, format="iso")


class CoApplicantsSchema(Schema):
    class Meta:
        unknown = RAISE

    part_id = fields.Str(required=True, validate=OBJECT_ID)
    co_applicants = fields.List(
        fields.Nested(CoApplicantSchema),
        required=True,
        validate=validate.Length(max=MAX_CO_APPLICANTS),
    )
