import pytest

from cellfed.config import DEFAULTS
from federation.registry import RegistryError, load_members, parse_members


def test_the_demo_registry_lists_three_nodes():
    members = load_members(DEFAULTS["MEMBERS_FILE"])
    assert len(members) == 3
    assert members[0].feed_url.endswith("/api/v1/feed")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"id": "a", "url": "ftp://x"}], "member #1 (a): 'url' must be an http(s) URL"),
        ([{"id": "a b", "url": "http://x"}], "member #1: 'id' must be"),
        (
            [{"id": "a", "url": "http://x"}, {"id": "a", "url": "http://y"}],
            "member #2: duplicate id 'a'",
        ),
        ([{"id": "a", "url": "http://x", "token": "t"}], "member #1: unknown keys token"),
    ],
)
def test_bad_registry_entries_are_named(entries, message):
    with pytest.raises(RegistryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_members({"member": entries}, "members.toml")
