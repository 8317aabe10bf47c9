"""The admin console (`/admin`, admins only) and the publisher dashboard (`/publisher`)."""
from flask import Blueprint

from ..accounts.decorators import role_required

bp = Blueprint("admin", __name__, url_prefix="/admin")
publisher_bp = Blueprint("publisher", __name__, url_prefix="/publisher")


@bp.before_request
@role_required("admin")
def _admins_only():
    """Every /admin route is admin-only, whatever its own decorators say."""
    return None
