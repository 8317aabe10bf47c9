"""Admin: "Live traffic" (/admin/live): requests per second, p95 latency, open streams,
coupon claims, RQ queues and the mail outbox, updated every ADMIN_LIVE_SECONDS over SSE.

The figures come from the collectors /metrics reads (infra/livestats.py). Each open
page's stream takes a snapshot per interval and sends the figures' HTML (a `figures`
event the htmx sse extension swaps in); rates are the difference from the stream's
previous snapshot. The stream's clock is the hub's heartbeat: it subscribes to a channel
nothing publishes on, so it is counted and closed like every other stream and holds no
database connection between snapshots. Without JavaScript a refresh shows the levels."""
from flask import current_app, render_template, url_for

from ..infra import livestats
from ..web import sse
from ..web.i18n import current_locale, in_locale
from .blueprint import bp

CLOCK = "admin:live"  # outside the hub's patterns: no message ever arrives, only heartbeats


def _redis():
    return current_app.extensions.get("redis_raw")


@bp.route("/live")
def live():
    return render_template("admin/live.html", f=livestats.figures(None, livestats.snapshot(_redis())),
                           seconds=current_app.config.get("ADMIN_LIVE_SECONDS", 2), jobs_url=url_for("admin.jobs"))


def _figures_frame(figures: dict, locale: str, jobs_url: str) -> str:
    with in_locale(locale):
        html = render_template("admin/_live_figures.html", f=figures, jobs_url=jobs_url)
    return sse.frame("\n".join(line for line in html.splitlines() if line.strip()), "figures")


@bp.route("/live/stream")
def live_stream():
    app = current_app._get_current_object()
    locale, connection, jobs_url = current_locale(), _redis(), url_for("admin.jobs")
    seconds = float(app.config.get("ADMIN_LIVE_SECONDS", 2))
    subscription = sse.get_hub(app.config["REDIS_URL"]).subscribe(CLOCK)
    try:
        state = {"previous": livestats.snapshot(connection)}
    except BaseException:
        subscription.close()
        raise

    def events():
        try:
            yield "retry: 3000\n\n"
            for item in subscription.messages(seconds):
                if item is not sse.HEARTBEAT:
                    continue
                with app.app_context():
                    current = livestats.snapshot(connection)
                    out = _figures_frame(livestats.figures(state["previous"], current), locale, jobs_url)
                state["previous"] = current
                yield out
        finally:
            subscription.close()

    return sse.sse_response(events(), subscription)
