"""A fast path for loading records that are valid, for the harvest's hot loop.

marshmallow spends some 150-250 µs per cell line, which caps the harvest near 5,000 records
a second on one core. This compiles a schema once into plain Python that loads a record
the way marshmallow would, using the schema's own field validators and schema validators,
but answers only when it is sure the record is valid. Anything it does not accept (a wrong
type, a value it would have to coerce, a failed check) returns None, and the caller asks
marshmallow, whose answer, and error messages, stand. So the fast path can make loading
faster, never more lenient; tests compare it with marshmallow on valid and broken records.
A field whose class reads values its own way (a custom ``_deserialize``, such as
schemas.miabis.Doi) is read by marshmallow's own field code, within the fast path.

Each schema becomes one generated function (source text, compiled once): a closure per
field cost a call per field and per validator, about half of the loader's time.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import threading
from collections.abc import Callable
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, missing, validate

from schemas.vocabularies import InVocabulary

Loader = Callable[[Any], Any]


class _Unsure(Exception):
    """Leave this value to marshmallow."""


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_names = itertools.count()


def _unsure() -> Any:
    raise _Unsure


def _load_datetime(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise _Unsure
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Unsure from None
    if parsed.tzinfo is None:
        raise _Unsure
    return parsed


class _Source:
    """The text of one generated function and the objects it refers to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {
            "_Unsure": _Unsure,
            "_isfinite": math.isfinite,
            "_date": dt.date.fromisoformat,
            "_DATE": _DATE.match,
        }

    def ref(self, value: Any) -> str:
        name = f"_c{next(_names)}"
        self.env[name] = value
        return name

    def add(self, indent: int, *lines: str) -> None:
        self.lines += ["    " * indent + line for line in lines]

    def build(self, name: str) -> Loader:
        namespace = dict(self.env)
        exec("\n".join(self.lines), namespace)  # noqa: S102 - our own text, from our schemas
        return namespace[name]


_WRITTEN_OUT = (
    fields.Nested,
    fields.List,
    fields.Dict,
    fields.String,
    fields.Boolean,
    fields.Integer,
    fields.Float,
    fields.Date,
    fields.AwareDateTime,
    fields.Raw,
)
"""The field types whose reading _convert writes out; their subclasses only as long as they
read values the same way (Email and Url do: they only add validators)."""
_READING = (
    "deserialize",
    "_deserialize",
    "_validate",
    "_validate_missing",
    "_validated",
    "_format_num",
    "_load",
    "_test_collection",
)
"""The methods through which a marshmallow field reads a value (Number's _validated and
_format_num, Nested's _load and _test_collection included)."""


def _written_out(field: fields.Field) -> bool:
    """Whether the fast path may read ``field`` as the type of _WRITTEN_OUT it is: not when
    its class overrides how a value is read (schemas.miabis.Doi normalises and refuses in its
    own _deserialize), nor with processors, another date format or its own unknown rule."""
    base = next((kind for kind in _WRITTEN_OUT if isinstance(field, kind)), None)
    if base is None or field.pre_load or field.post_load:
        return False
    if getattr(field, "format", None) not in (None, "iso"):
        return False
    if isinstance(field, fields.Nested) and field.unknown is not None:
        return False
    kind = type(field)
    return all(getattr(kind, name, None) is getattr(base, name, None) for name in _READING)


def _convert(field: fields.Field, src: str, out: _Source, ind: int) -> str:
    """Statements that check ``src`` for ``field``'s type; returns the converted value's
    expression. The same acceptance as the closures this replaced, type by type."""
    if isinstance(field, fields.Nested):
        return f"{out.ref(compile_schema(field.schema))}({src})"
    if isinstance(field, fields.List):
        out.add(ind, f"if not isinstance({src}, list): raise _Unsure")
        item = out.ref(_field(field.inner))
        return f"[{item}(i) for i in {src}] if {src} else []"  # most lists are empty
    if isinstance(field, fields.Dict):
        if field.key_field or field.value_field:
            return f"{out.ref(_dict_loader(field))}({src})"
        out.add(ind, f"if not isinstance({src}, dict): raise _Unsure")
        return f"dict({src})"  # what marshmallow makes of a mapping without key or value fields
    if isinstance(field, fields.String):
        out.add(ind, f"if not isinstance({src}, str): raise _Unsure")
    elif isinstance(field, fields.Boolean):
        out.add(ind, f"if {src} is not True and {src} is not False: raise _Unsure")
    elif isinstance(field, fields.Integer):
        out.add(ind, f"if type({src}) is not int: raise _Unsure")
    elif isinstance(field, fields.Float):
        out.add(
            ind,
            f"if not (type({src}) in (int, float) and _isfinite({src})): raise _Unsure",
        )
        return f"float({src})"
    elif isinstance(field, fields.Date):
        out.add(ind, f"if not (isinstance({src}, str) and _DATE({src})): raise _Unsure")
        return f"_date({src})"
    elif isinstance(field, fields.AwareDateTime):
        return f"{out.ref(_load_datetime)}({src})"
    elif type(field) is not fields.Raw:
        out.add(ind, "raise _Unsure")  # a field type this path does not know
    return src


def _validate(validator: Any, value: str, out: _Source, ind: int) -> None:
    """Statements that run one of the field's validators on ``value``: marshmallow's own
    checks written out for its common validators (a failure leaves it to marshmallow),
    a call for any other."""
    kind = type(validator)
    if kind is validate.Regexp:
        out.add(ind, f"if {out.ref(validator.regex.match)}({value}) is None: raise _Unsure")
    elif kind is validate.OneOf:
        out.add(ind, f"if {value} not in {out.ref(validator.choices)}: raise _Unsure")
    elif kind is validate.Length and validator.equal is None:
        size = f"len({value})"
        # By reference: a bound's repr need not be Python (math.inf is "inf").
        if validator.min is not None:
            out.add(ind, f"if {size} < {out.ref(validator.min)}: raise _Unsure")
        if validator.max is not None:
            out.add(ind, f"if {size} > {out.ref(validator.max)}: raise _Unsure")
    elif kind is InVocabulary:
        # Its own quick acceptance (a code of the set); anything else is left to it.
        codes = out.ref(frozenset(validator.allowed()))
        out.add(ind, f"if not (isinstance({value}, str) and {value} in {codes}): raise _Unsure")
    else:
        out.add(ind, f"{out.ref(validator)}({value})")


def _value(field: fields.Field, src: str, dst: str, out: _Source, ind: int, args: str = "") -> None:
    """Statements that load ``src`` into ``dst`` as ``field`` would, null and validators
    included (null, when allowed, skips the validators, as marshmallow does). A field that
    reads values its own way is read by marshmallow's own field code, called with
    ``args``: its attribute and the record, as a schema passes them."""
    if not _written_out(field):
        out.add(ind, f"{dst} = {out.ref(field.deserialize)}({src}{args})")
        return
    out.add(ind, f"if {src} is None:")
    out.add(ind + 1, f"{dst} = None" if field.allow_none else "raise _Unsure")
    out.add(ind, "else:")
    expression = _convert(field, src, out, ind + 1)
    out.add(ind + 1, f"{dst} = {expression}")
    for validator in field.validators:
        _validate(validator, dst, out, ind + 1)


def _field(field: fields.Field) -> Loader:
    """A loader for one field's value (a list's items, a mapping's keys and values)."""
    out = _Source()
    name = f"_field{next(_names)}"
    out.add(0, f"def {name}(v):")
    _value(field, "v", "x", out, 1)
    out.add(1, "return x")
    return out.build(name)


def _dict_loader(field: fields.Dict) -> Loader:
    key = _field(field.key_field) if field.key_field else (lambda v: v)
    val = _field(field.value_field) if field.value_field else (lambda v: v)

    def load_dict(value: Any) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise _Unsure
        return {key(k): val(v) for k, v in value.items()}

    return load_dict


def _schema_field(name: str, field: fields.Field, out: _Source) -> None:
    """One field of a schema's generated function: present, required, or its default."""
    key = field.data_key or name
    # "in" and a subscript: cheaper than a get() call, and most fields are absent.
    out.add(1, f"if {key!r} in data:")
    out.add(2, f"v = data[{key!r}]")
    _value(field, "v", "x", out, 2, f", {key!r}, data")
    out.add(2, f"out[{name!r}] = x")
    default = field.load_default
    if field.required:
        out.add(1, "else: raise _Unsure")
    elif default is list:
        out.add(1, f"else: out[{name!r}] = []")
    elif callable(default):
        out.add(1, f"else: out[{name!r}] = {out.ref(default)}()")
    elif default is not missing:
        out.add(1, f"else: out[{name!r}] = {out.ref(default)}")


def compile_schema(schema: Schema) -> Loader:
    """A loader for one schema instance: returns loaded data, or raises _Unsure."""
    hooks = type(schema)._hooks
    if schema.many or any(hooks.get(kind) for kind in ("pre_load", "post_load", "validates")):
        return lambda v: _unsure()  # hooks this path does not run: marshmallow, whole
    out = _Source()
    name = f"_load{next(_names)}"
    known = {field.data_key or key for key, field in schema.load_fields.items()}
    out.add(0, f"def {name}(data):")
    out.add(1, "if not isinstance(data, dict): raise _Unsure")
    if schema.unknown == RAISE:
        out.add(1, f"if not {out.ref(known)}.issuperset(data): raise _Unsure")
    out.add(1, "out = {}")
    for key, field in schema.load_fields.items():
        _schema_field(key, field, out)
    for attr, many, kw in type(schema)._hooks.get("validates_schema", []):
        if many:
            continue
        hook = out.ref(getattr(schema, attr))
        original = "data, " if kw.get("pass_original") else ""
        out.add(1, f"{hook}(out, {original}partial=None, many=False)")
    out.add(1, "return out")
    return out.build(name)


_compiled = threading.local()


def fast_load(schema: Schema, data: Any) -> dict[str, Any] | None:
    """The loaded record if it is certainly valid; None means: ask marshmallow."""
    # Keyed on id(): safe because the schemas passed here are per_thread instances, which
    # live as long as their thread, so an id is never reused for another schema.
    cache: dict[int, Any] = _compiled.__dict__  # type: ignore[assignment]
    loader = cache.get(id(schema))
    if loader is None:
        loader = cache[id(schema)] = compile_schema(schema)
    try:
        return loader(data)
    except (_Unsure, ValidationError, ValueError, TypeError, OverflowError):
        # OverflowError: an integer beyond a float's range in a Float field (_isfinite);
        # marshmallow's answer is "Number too large."
        return None
