import datetime as dt

from search.health import prometheus_text


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
