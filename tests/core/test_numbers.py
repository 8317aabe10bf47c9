"""shop/web/numbers.py: what counts as a number from outside, and what the pages do with
one that is not (the URL-map-wide sweep is tests/security/test_numbers.py)."""
import pytest
from sqlalchemy import select

from shop.web.numbers import MAX_ID, MAX_PAGE, page_number, paginate, parse_int
from shop.extensions import db

from ..support.catalog import make_game


@pytest.mark.parametrize("raw, expected", [
    ("42", 42), (" 7 ", 7), ("0", 0), (str(MAX_ID), MAX_ID), ("007", 7),
    (None, None), ("", None), (" ", None), ("-1", None), ("+1", None), ("1.0", None), ("1e3", None),
    ("0x10", None), ("1_000", None), ("²", None), ("١٢", None), ("１２", None), (str(MAX_ID + 1), None),
    (str(2**63), None), ("9" * 5000, None), ("NaN", None),
])
def test_parse_int_takes_plain_ascii_digits_in_range(raw, expected):
    assert parse_int(raw, 0, MAX_ID) == expected


def test_parse_int_bounds_are_inclusive():
    assert [parse_int(str(n), 1, 5) for n in (0, 1, 5, 6)] == [None, 1, 5, None]


@pytest.mark.parametrize("raw, expected", [
    (None, 1), ("", 1), ("0", 1), ("-3", 1), ("abc", 1), ("²", 1), ("١٢", 1), ("3", 3), ("0003", 3),
    (str(MAX_PAGE), MAX_PAGE), (str(MAX_PAGE + 1), MAX_PAGE), (str(10**20), MAX_PAGE), ("9" * 5000, MAX_PAGE),
])
def test_page_number_is_one_for_junk_and_the_cap_for_too_far(raw, expected):
    assert page_number(raw) == expected


def test_page_number_honours_a_smaller_last_page():
    assert (page_number("70", 50), page_number("7", 50)) == (50, 7)


def test_paginate_shows_the_last_page_for_one_past_it(app, make_user):
    from shop.accounts.models import User

    with app.app_context():
        ids = sorted(make_user().id for _ in range(5))
        query = select(User).where(User.id.in_(ids)).order_by(User.id)
        for page in (3, 4, MAX_PAGE, 10**20):
            pages = paginate(query, page, 2)
            assert (pages.page, [u.id for u in pages.items]) == (3, ids[4:]), page
        assert [u.id for u in paginate(query, 2, 2).items] == ids[2:4]
        empty = paginate(query.where(User.id < 0), 10**20, 2)
        assert (empty.page, empty.items) == (1, [])


@pytest.mark.parametrize("path", [f"/coupons/{2**31}", f"/coupons/{10**20}", "/coupons/%C2%B2",
                                  "/coupons/%D9%A1%D9%A2", "/coupons/%EF%BC%91", "/coupons/" + "9" * 5000,
                                  "/coupons/-1", "/coupons/1.0"])
def test_an_id_that_is_not_one_is_a_404_before_any_view(client, path):
    assert client.get(path).status_code == 404


def test_reviews_past_the_last_page_are_a_404(app, client):
    from shop.catalog.models import Game

    with app.app_context():
        slug = db.session.get(Game, make_game("Unreviewed Game")).slug
    assert client.get(f"/games/{slug}/reviews?page=1").status_code == 200
    assert client.get(f"/games/{slug}/reviews?page=2").status_code == 404
    assert client.get(f"/games/{slug}/reviews?page={10**20}").status_code == 404


def test_no_view_parses_request_numbers_by_hand():
    """`type=int` and `int(request...)` accept "١٢" and raise on 5,000 digits; parse_int is the rule."""
    import re
    from pathlib import Path

    import shop

    pattern = re.compile(r"type=int\b|(?<![\w.])int\(\s*request\.")
    found = [f"{path.relative_to(Path(shop.__file__).parent)}:{n}" for path in Path(shop.__file__).parent.rglob("*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)
             and "click." not in line]  # CLI options are typed by click, not read from a request
    assert not found, f"use shop.web.numbers.parse_int: {found}"
