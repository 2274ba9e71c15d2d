"""The researcher's side of stock and receipt, pure: a cart line's amount against what the
index shows free, and a receipt's fields; each bad input named."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.access.cart_stock import AmountError, lots_available, parse, problems
from portal.access.service import SubmissionInvalid
from portal.access.sharing import receipt_text

UID = "n1:cell_line:L1"
LOTS = [
    {"lot_id": "A", "vials_available": 5, "vials_held": 3},
    {"lot_id": "B", "vials_available": 4},
    {"lot_id": "C"},  # states no count
]


def test_what_is_free_is_the_stock_less_what_approvals_hold():
    assert lots_available(LOTS) == [{"lot_id": "A", "free": 2}, {"lot_id": "B", "free": 4}]


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ({"quantity": 2, "lot_id": "A"}, []),
        ({"quantity": 3, "lot_id": "A"}, [f"{UID}: 3 vial(s) of lot A asked, 2 available now"]),
        ({"quantity": 6}, []),
        ({"quantity": 7}, [f"{UID}: 7 vial(s) asked, 6 available now in all its lots"]),
        ({"quantity": 1, "lot_id": "Z"}, [f"{UID}: there is no lot 'Z' (its lots: A, B, C)"]),
        ({"quantity": 50, "lot_id": "C"}, []),  # no count stated: the node decides
        (None, []),
    ],
)
def test_an_amount_is_checked_against_the_lots_now(amount, expected):
    assert problems(UID, "cell_line", LOTS, amount) == expected


def test_a_collection_takes_no_amount():
    assert problems("n1:collection:C1", "collection", [], {"quantity": 2}) == [
        "n1:collection:C1: a collection is asked for as a whole, not in vials or lots"
    ]


@pytest.mark.parametrize(
    ("quantity", "message"),
    [("0", "ask for 1 to 1000 vials, not 0"), ("two", "'two' is not a whole number of vials")],
)
def test_a_bad_quantity_is_refused(quantity, message):
    with pytest.raises(AmountError, match=message):
        parse(UID, quantity, "")
    assert parse(UID, "", " A ") == {"quantity": 1, "lot_id": "A"}


def test_a_receipt_says_when_and_in_what_state_the_material_arrived():
    today = dt.date(2026, 12, 3)
    assert receipt_text("2026-12-02", "thawed", " Box warm. ", today) == (
        "Received on 2026-12-02; state on arrival: thawed. Box warm."
    )
    # East of UTC it may already be tomorrow: one day ahead is someone's today.
    assert receipt_text("2026-12-04", "good", "", today).startswith("Received on 2026-12-04")
    with pytest.raises(SubmissionInvalid) as caught:
        receipt_text("2026-12-05", "lost", "", today)
    assert caught.value.problems == [
        "received on: 2026-12-05 is in the future",
        "state on arrival: one of good, damaged, thawed",
    ]
    with pytest.raises(SubmissionInvalid, match="is not a date"):
        receipt_text("yesterday", "good", "", today)
