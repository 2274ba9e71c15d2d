import datetime as dt

from search.health import (
    ERROR_FORMAT,
    WITHHELD_ERROR,
    WITHHELD_REASON,
    prometheus_text,
    public_health,
)


def test_prometheus_text_has_one_series_per_node_and_metric():
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    nodes = {
        "a": {
            "node_id": "a",
            "cursor": 40,
            "latest_seq": 42,
            "lag": 2,
            "failures": 0,
            "data_as_of": "2026-11-26T11:59:30+00:00",
            "quarantined": [{"id": "x"}],
        },
        "b": {"node_id": "b", "last_error": "unreachable", "failures": 3, "lag": 0},
    }
    text = prometheus_text(nodes, now)
    assert "# TYPE cellfed_node_lag_changes gauge" in text
    assert 'cellfed_node_lag_changes{node="a"} 2' in text
    assert 'cellfed_node_up{node="a"} 1' in text and 'cellfed_node_up{node="b"} 0' in text
    assert 'cellfed_node_data_age_seconds{node="a"} 30' in text
    assert 'cellfed_node_data_age_seconds{node="b"}' not in text  # never synced: no sample
    assert 'cellfed_node_quarantined_records{node="a"} 1' in text


def test_only_checked_fields_of_a_health_document_are_published():
    doc = {
        "type": "node",
        "node_id": "evil",
        "index": "test-catalogue-v3-1",
        "error_format": ERROR_FORMAT,
        "last_error": "http://n/api/v1/feed answered HTTP 302, a redirect\x1b[2J",
        "failures": "3",
        "cursor": 4,
        "latest_seq": 9,
        "data_as_of": "<script>",
        "last_attempt": "2026-12-01T00:00:00+00:00",
        "quarantined": [
            {"kind": "<b>", "id": "<script>", "seq": "1", "reason": "cell_type: not valid"},
            "junk",
        ],
        "extra": "<script>secret</script>",
    }
    out = public_health(doc)
    assert out is not None
    assert out["last_error"] == "http://n/api/v1/feed answered HTTP 302, a redirect [2J"
    assert out["failures"] == 0 and out["lag"] == 5 and out["data_as_of"] is None
    assert out["last_attempt"] == "2026-12-01T00:00:00+00:00"
    assert out["quarantined"] == [
        {"kind": None, "id": None, "seq": None, "reason": "cell_type: not valid"}
    ]
    assert "extra" not in out and "error_format" not in out
    assert public_health({"node_id": "<script>"}) is None


def test_texts_an_older_indexer_stored_are_withheld():
    # Before error_format, last_error held a node's answer (or, through a redirect, the
    # engine's): it is not published, nor are the quarantine reasons of that time.
    legacy = {
        "node_id": "evil",
        "last_error": "malformed JSON: 'health status index uuid <script>'",
        "quarantined": [{"kind": "cell_line", "id": "L1", "seq": 1, "reason": "<script>"}],
    }
    out = public_health(legacy)
    assert out is not None and out["last_error"] == WITHHELD_ERROR
    assert out["quarantined"][0]["reason"] == WITHHELD_REASON
    assert out["quarantined"][0]["id"] == "L1"
    assert 'cellfed_node_up{node="evil"} 0' in prometheus_text({"evil": out})
