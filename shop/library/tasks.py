"""Library jobs: verifying an uploaded build (a full read of the file, off the web process)."""
import hashlib

from ..extensions import db
from ..infra.storage import get_build_storage
from ..timeutil import utcnow
from .build_models import Build


def verify_build(build_id: int) -> str:
    """RQ job: read the stored file back in 1 MiB pieces, count and hash it; the build
    becomes ready, or failed (and its file is deleted) when either differs from what the
    upload declared. Returns the new status; a build not waiting for this is left alone."""
    build = db.session.get(Build, build_id)
    if build is None or build.status != "verifying":
        return build.status if build else "missing"
    storage, digest, size = get_build_storage(), hashlib.sha256(), 0
    for piece in storage.iter_chunks(build.storage_key):
        digest.update(piece)
        size += len(piece)
    build.sha256, build.verified_at = digest.hexdigest(), utcnow()
    if size != build.size:
        build.status, build.error = "failed", "size"
    elif build.sha256 != build.claimed_sha256:
        build.status, build.error = "failed", "checksum"
    else:
        build.status = "ready"
    if build.status == "failed":
        storage.delete(build.storage_key)
    db.session.commit()
    return build.status
