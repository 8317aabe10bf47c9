"""Library jobs: verifying an uploaded build (a full read of the file, off the web process)."""
from . import builds


def verify_build(build_id: int) -> str:
    """RQ job: read the build's file back and compare its size and SHA-256 with what the
    upload declared (builds.verify). Returns the build's new status."""
    return builds.verify(build_id)
