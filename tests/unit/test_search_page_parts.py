"""portal/facet_rows.py and portal/record_links.py: the search page's rows of the filter panel
and its links to records are the text the template's expressions and ``url_for`` wrote."""

from __future__ import annotations

import pytest
from flask import url_for
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import Environment

from portal.app import create_app
from portal.facet_rows import facet_value
from portal.record_links import record_links

# The rows as search.html wrote them before portal/facet_rows.py (between the for and endfor).
TEMPLATE_ROW = """\
{% for v in values %}
            {% set fid = "f-" ~ name ~ "-" ~ loop.index %}
            <div class="facet-value depth-{{ v.depth or 0 }}">
              <input type="checkbox" id="{{ fid }}" name="{{ name }}" value="{{ v.value }}" \
{% if v.selected %}checked{% endif %}>
              <label for="{{ fid }}">{{ v.label }} <span class="count">{{ v.count }}</span></label>
            </div>
            {% endfor %}"""
NOW = """\
{% for v in values %}
            {{ facet_value(name, v, loop.index) }}
            {% endfor %}"""
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
VALUE = st.fixed_dictionaries(
    {"value": TEXT, "label": TEXT, "count": st.integers(0, 10**6), "selected": st.booleans()},
    optional={"depth": st.integers(0, 5), "parent": st.none() | TEXT},
)


@settings(deadline=None)
@given(st.sampled_from(["country", "cell_type", 'a"<b>&']), st.lists(VALUE, max_size=5))
def test_the_rows_are_the_templates_text(name: str, values: list[dict]) -> None:
    env = Environment(autoescape=True)
    env.globals["facet_value"] = facet_value
    before = env.from_string(TEMPLATE_ROW).render(name=name, values=values)
    assert env.from_string(NOW).render(name=name, values=values) == before


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "portal.sqlite3"
    return create_app({"PORTAL_DATABASE_URL": f"sqlite:///{db}"})


@settings(deadline=None, max_examples=300)
@given(uid=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1))
def test_record_links_are_url_fors(app, uid: str) -> None:
    with app.test_request_context("/", base_url="http://example.org/portal"):
        record_url = record_links(url_for("views.record_page", uid="-"))
        assert record_url(uid) == url_for("views.record_page", uid=uid)


def test_a_uid_with_slashes_colons_and_spaces(app) -> None:
    with app.test_request_context("/"):
        record_url = record_links(url_for("views.record_page", uid="-"))
        assert record_url("node-a/BB-1:line 2") == "/records/node-a/BB-1:line%202"
