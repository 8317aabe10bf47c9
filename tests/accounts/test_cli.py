"""`flask users ...` commands."""
from shop.accounts.models import User
from shop.accounts.services import find_by_email
from shop.extensions import db


def test_create_admin_creates_a_verified_admin(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create-admin", "boss@example.com", "--password", "a long passphrase 1"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = find_by_email("boss@example.com")
        assert user.role == "admin" and user.is_verified


def test_create_admin_promotes_existing_user(app, make_user):
    user = make_user()
    result = app.test_cli_runner().invoke(args=["users", "create-admin", user.email])
    assert result.exit_code == 0
    with app.app_context():
        assert db.session.get(User, user.id).role == "admin"


def test_make_publisher(app, make_user):
    user = make_user()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "make-publisher", user.email]).exit_code == 0
    with app.app_context():
        assert db.session.get(User, user.id).role == "publisher"
    missing = runner.invoke(args=["users", "make-publisher", "nobody@example.com"])
    assert missing.exit_code != 0 and "No user" in missing.output


def test_seed_demo_is_idempotent(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed", "demo"]).exit_code == 0
    result = runner.invoke(args=["seed", "demo"])
    assert result.exit_code == 0 and "customer@playcation.example" in result.output
    with app.app_context():
        demo = list(db.session.scalars(db.select(User).where(User.email.like("%@playcation.example"))))
    assert sorted(u.role for u in demo) == ["admin", "customer", "publisher"]
    assert {u.locale for u in demo} == {"ko"}  # the demo accounts see the store in Korean


def test_demo_logins_work_through_the_login_form(app, browser):
    """The logins `make run` prints must pass the login form's own email validation."""
    from shop.dev.seed import DEMO_USERS

    assert app.test_cli_runner().invoke(args=["seed", "demo"]).exit_code == 0
    for _role, email, _nickname, password in DEMO_USERS:
        res = browser.login(email, password)
        assert res.status_code == 302, email
        browser.logout()
