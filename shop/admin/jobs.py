"""Admin: the cron schedule with "run now", failed RQ jobs, and the RQ dashboard at /admin/rq.

rq-dashboard has no authentication of its own (its docs leave that to the host app), so
its blueprint gets the admin check as its first before_request. Its pages post with
jQuery and no CSRF token, so it is exempt from the token; instead, a state-changing
request must come from our own origin (Origin, else Referer, must name this host), which
together with SameSite=Lax session cookies keeps other sites from posting as an admin.
"""
from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from rq.job import Job
from rq.registry import FailedJobRegistry

from ..web.forms import EmptyForm
from ..core.jobs_admin import schedule
from ..extensions import csrf, login_manager
from ..infra.redisconn import redis_clients
from ..infra.jobs import CRON, enqueue, get_queue
from .audit import record
from .blueprint import bp

RQ_PREFIX = "/admin/rq"
FAILED_SHOWN = 20
RQ_GET_ACTIONS = {"rq_dashboard.requeue_all"}  # rq-dashboard also requeues on a GET


def queue_names() -> list[str]:
    """The app's RQ queues (one today: RQ_QUEUE)."""
    return [current_app.config["RQ_QUEUE"]]


def failed_jobs_count() -> int:
    connection = redis_clients.raw
    return sum(FailedJobRegistry(name, connection=connection).count for name in queue_names())


def failed_jobs(limit: int = FAILED_SHOWN) -> list[dict]:
    """The newest failed jobs of every app queue (one MGET-like fetch per queue)."""
    connection = redis_clients.raw
    out = []
    for name in queue_names():
        registry = FailedJobRegistry(name, connection=connection)
        ids = registry.get_job_ids(0, limit - 1, desc=True)
        for job_id, job in zip(ids, Job.fetch_many(ids, connection=connection)):
            if job is None:
                continue
            result = job.latest_result()
            error = ((result.exc_string if result is not None else None) or "").strip().splitlines()
            out.append({"id": job_id, "queue": name, "func": job.func_name, "ended_at": job.ended_at,
                        "error": error[-1] if error else ""})
    return out[:limit]


@bp.route("/jobs", methods=["GET", "POST"])
def jobs():
    form = EmptyForm()
    if form.validate_on_submit():
        funcs = {job_id: func for job_id, _cron, func in CRON}
        job_id = request.form.get("job", "")
        if job_id not in funcs:
            abort(400, _("Unknown job."))
        record("job.run", target_type="job", target_id=job_id, label=funcs[job_id])
        from ..extensions import db

        db.session.commit()  # the audit row; the job itself goes to the worker right away
        enqueue(funcs[job_id])
        flash(_("%(job)s queued; the worker runs it now.", job=job_id), "success")
        return redirect(url_for("admin.jobs"))
    if form.is_submitted():
        abort(400, _("The form expired; reload the page and try again."))
    return render_template("admin/jobs.html", rows=schedule(), form=form, failed=failed_jobs(),
                           failed_count=failed_jobs_count(), queued=get_queue().count, queues=queue_names(),
                           rq_dashboard=RQ_PREFIX + "/")


# --- the RQ dashboard ----------------------------------------------------------------------

def _same_origin() -> bool:
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return False
    parts = urlsplit(source)
    return f"{parts.scheme}://{parts.netloc}" == request.host_url.rstrip("/")


def _rq_dashboard_admins_only():
    """Runs before rq-dashboard's own hooks: anonymous → login, non-admins → 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    if (request.view_args or {}).get("instance_number", 0) >= len(current_app.config["RQ_DASHBOARD_REDIS_URL"]):
        abort(404)  # rq-dashboard raises LookupError (a 500) for an instance it does not have
    changes_state = request.method not in ("GET", "HEAD", "OPTIONS") or request.endpoint in RQ_GET_ACTIONS
    if changes_state and not _same_origin():
        abort(400, _("Cross-site request refused."))
    return None


@bp.record_once
def _mount_rq_dashboard(state):
    import rq_dashboard
    from rq_dashboard.web import setup_rq_connection

    app = state.app
    # A list of URLs (one per Redis instance); a bare string makes it 500 on some pages.
    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", [app.config["REDIS_URL"]])
    setup_rq_connection(app)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=RQ_PREFIX)
    csrf.exempt(rq_dashboard.blueprint)
    app.before_request_funcs.setdefault(rq_dashboard.blueprint.name, []).insert(0, _rq_dashboard_admins_only)
    # Its pages run inline scripts and compile underscore.js templates (eval), which the
    # site-wide CSP forbids: its pages alone (admin-only) get their own, looser policy (set
    # first; the app's after_request only sets a CSP where none is).
    app.after_request_funcs.setdefault(rq_dashboard.blueprint.name, []).append(_rq_dashboard_csp)


RQ_DASHBOARD_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
                    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
                    "frame-ancestors 'none'")


def _rq_dashboard_csp(response):
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = RQ_DASHBOARD_CSP
    return response
