"""moto's S3 server over real HTTP, for the storage and build tests: a clean AWS
environment (no profile, no shared credentials), a bucket, and the server stopped at the
end. moto keeps buckets per process, across servers, so each caller names its own."""
import os
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from .env import free_port


@contextmanager
def moto_s3(bucket: str, region: str):
    """Yields (endpoint, client, bucket) for a running moto server holding `bucket`."""
    import boto3
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", region)
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name=region)
        if bucket not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        try:
            yield SimpleNamespace(endpoint=endpoint, client=client, bucket=bucket)
        finally:
            server.stop()
