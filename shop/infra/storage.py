"""File storage: a local folder by default, S3 (or an S3-compatible store) when
`S3_BUCKET` is set. Both speak the same three verbs: save, url, delete."""
import os
from pathlib import Path
from urllib.parse import quote

from flask import current_app, url_for


class LocalStorage:
    def __init__(self, root: str):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("storage key escapes the upload folder")
        return path

    def save(self, key: str, data: bytes, content_type: str) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers never see half a file
        return key

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return url_for("core.media", key=key)


class S3Storage:
    def __init__(self, bucket: str, endpoint_url: str | None, region: str, public_url: str | None):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.public_url = public_url.rstrip("/") if public_url else None
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            config=Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}),
        )

    def save(self, key: str, data: bytes, content_type: str) -> str:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type,
                               CacheControl="public, max-age=31536000, immutable")
        return key

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def url(self, key: str) -> str:
        if self.public_url:
            return f"{self.public_url}/{quote(key, safe='/')}"  # as the presigned form is
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=24 * 3600)


def get_storage():
    """The storage backend configured for the current app (created once per app)."""
    app = current_app
    storage = app.extensions.get("storage")
    if storage is None:
        cfg = app.config
        if cfg.get("S3_BUCKET"):
            storage = S3Storage(cfg["S3_BUCKET"], cfg.get("S3_ENDPOINT_URL"), cfg["S3_REGION"],
                                cfg.get("S3_PUBLIC_URL"))
        else:
            storage = LocalStorage(cfg["UPLOAD_DIR"])
        app.extensions["storage"] = storage
    return storage
