"""Page numbers and ids from outside on the admin and publisher lists: a page past the
last shows the last page, odd digits in a search are no id (shop/web/numbers.py)."""
from ..support.catalog import make_game
from .test_emails import add_emails, listed


def test_admin_email_log_past_the_last_page_shows_the_last_page(app, admin_browser):
    ids = add_emails(app, *[(f"r{n}@example.com", "welcome", "sent") for n in range(55)])  # 50 a page
    last = listed(admin_browser.page("/admin/emails?page=2"))
    assert last and set(last) <= set(ids)
    for page in (3, 10**20, "9" * 5000):
        assert listed(admin_browser.page(f"/admin/emails?page={page}")) == last


def test_publisher_games_past_the_last_page_shows_the_last_page(app, login_as):
    publisher = login_as("publisher")
    with app.app_context():
        for n in range(21):  # 20 a page
            make_game(f"Paged Game {n:02d}", publisher_id=publisher.user.id)
    last = publisher.page("/publisher/games?page=2")
    assert "Paged Game" in last
    huge = publisher.page(f"/publisher/games?page={10**20}")
    assert [line for line in huge.splitlines() if "Paged Game" in line] == [
        line for line in last.splitlines() if "Paged Game" in line]


def test_admin_lookup_by_unicode_digits_finds_nothing_instead_of_failing(admin_browser):
    for url in ("/admin/users?q=²", "/admin/games?q=١٢", "/admin/orders?q=²", "/admin/games?publisher=²"):
        assert admin_browser.get(url).status_code == 200, url
