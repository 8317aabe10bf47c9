"""Every response carries a request id; every request leaves one structured log line."""
import json
import logging

from shop.infra.requestlog import JsonFormatter, RequestIdFilter


def _request_records(caplog):
    return [r for r in caplog.records if r.name == "shop.request"]


def test_response_carries_a_fresh_request_id(client, caplog):
    caplog.set_level(logging.INFO, logger="shop.request")
    first = client.get("/")
    second = client.get("/")
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(len(i) >= 16 for i in ids) and ids[0] != ids[1]
    records = _request_records(caplog)
    assert [r.fields["request_id"] for r in records][-2:] == ids


def test_a_sane_incoming_request_id_is_kept_and_a_hostile_one_replaced(client):
    kept = client.get("/", headers={"X-Request-ID": "lb-2f9c1e7a-0001"})
    assert kept.headers["X-Request-ID"] == "lb-2f9c1e7a-0001"
    for hostile in ("<script>alert(1)</script>", "y" * 200, "short"):
        replaced = client.get("/", headers={"X-Request-ID": hostile}).headers["X-Request-ID"]
        assert replaced != hostile and len(replaced) == 32 and replaced.isalnum()


def test_request_log_line_has_the_fields_an_operator_greps_for(client, caplog, make_user):
    caplog.set_level(logging.INFO, logger="shop.request")
    response = client.get("/games/no-such-game")
    record = _request_records(caplog)[-1]
    assert record.fields["status"] == response.status_code == 404
    assert record.fields["method"] == "GET" and record.fields["path"] == "/games/no-such-game"
    assert record.fields["duration_ms"] >= 0 and record.fields["user_id"] is None
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "request" and line["status"] == 404 and line["level"] == "info"
    assert line["request_id"] == response.headers["X-Request-ID"]


def test_records_outside_a_request_get_a_dash_and_json_survives_odd_text():
    record = logging.LogRecord("shop.x", logging.WARNING, __file__, 1, "naïve %s", ("\"quoted\"\n",), None)
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "-" and line["msg"] == 'naïve "quoted"\n' and line["level"] == "warning"


def test_the_log_names_the_user_without_loading_it(app, browser, make_user, caplog, monkeypatch):
    user = make_user()
    browser.login(user.email)
    caplog.set_level(logging.INFO, logger="shop.request")
    loads = []
    original = app.login_manager._user_callback
    monkeypatch.setattr(app.login_manager, "_user_callback", lambda uid: loads.append(uid) or original(uid))
    browser.get("/static/css/app.css")  # no view touches current_user
    browser.get("/healthz")
    browser.get("/")  # the page does (the header shows the nickname)
    record = _request_records(caplog)[-1]
    assert record.fields["user_id"] == user.id and record.fields["path"] == "/"
    assert len(loads) == 1


def test_user_id_comes_from_the_session_when_no_view_loaded_the_user(app, monkeypatch):
    from flask import session

    from shop.infra.requestlog import _user_id

    def must_not_load(uid):
        raise AssertionError("the request log loaded the user")

    monkeypatch.setattr(app.login_manager, "_user_callback", must_not_load)
    with app.test_request_context("/"):
        assert _user_id() is None
        session["_user_id"] = "42:some-session-token"
        assert _user_id() == 42
        session["_user_id"] = "garbage"
        assert _user_id() is None


def test_log_lines_are_written_in_batches_but_warnings_at_once():
    import io

    from shop.infra.requestlog import BufferedStreamHandler

    stream = io.StringIO()
    handler = BufferedStreamHandler(stream, interval=60)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.buffered")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(handler)
    try:
        logger.info("one")
        logger.info("two")
        assert stream.getvalue() == ""  # waiting for the timer
        logger.warning("three")  # a warning goes out at once, after what came before it
        assert stream.getvalue() == "INFO one\nINFO two\nWARNING three\n"
        logger.info("four")
        handler.flush()  # the timer's (and logging.shutdown's) call
        assert stream.getvalue().endswith("WARNING three\nINFO four\n")
        small = BufferedStreamHandler(io.StringIO(), interval=60, max_bytes=10)
        small.setFormatter(logging.Formatter("%(message)s"))
        small.handle(logging.LogRecord("x", logging.INFO, __file__, 1, "a long enough line", (), None))
        assert small.stream.getvalue() == "a long enough line\n"  # max_bytes reached
    finally:
        logger.removeHandler(handler)


def test_the_timer_writes_pending_lines():
    import io
    import time

    from shop.infra.requestlog import BufferedStreamHandler

    handler = BufferedStreamHandler(io.StringIO(), interval=0.05)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.handle(logging.LogRecord("x", logging.INFO, __file__, 1, "later", (), None))
    deadline = time.monotonic() + 5
    while not handler.stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert handler.stream.getvalue() == "later\n"
