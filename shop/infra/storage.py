"""File storage: a local folder by default, S3 (or an S3-compatible store) when
`S3_BUCKET` is set. Both speak the same three verbs: save, url, delete.

Large files (game builds, up to 4 GB) never pass through memory whole: the local folder
appends a chunk at an offset (`write_at`) and both read back in chunks (`iter_chunks`);
S3 takes them as a multipart upload whose parts the browser PUTs straight to the bucket
with presigned URLs (`start_multipart`, `presign_part`, `uploaded_parts`,
`complete_multipart`)."""
import fcntl
import os
from pathlib import Path
from urllib.parse import quote

from flask import current_app, url_for


class OffsetMismatch(Exception):
    """A chunk was sent for another offset than the end of what is stored."""

    def __init__(self, have: int):
        super().__init__(f"the file holds {have} bytes")
        self.have = have


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

    # --- large files -----------------------------------------------------------------

    def path(self, key: str) -> Path:
        return self._path(key)

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def write_at(self, key: str, offset: int, stream, length: int, piece: int = 1024 * 1024) -> int:
        """Append `length` bytes read from `stream` to the file, which must hold exactly
        `offset` bytes now (a new file: 0). The file is locked while written, so two
        writers of one file take turns. Returns the file's size after. Raises
        OffsetMismatch (nothing written) and OSError; a stream that ends early leaves
        what arrived, and the size says how far it got."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as out:
            fcntl.flock(out, fcntl.LOCK_EX)
            try:
                have = os.fstat(out.fileno()).st_size
                if have != offset:
                    raise OffsetMismatch(have)
                left = length
                while left > 0:
                    data = stream.read(min(piece, left))
                    if not data:
                        break
                    out.write(data)
                    left -= len(data)
                out.flush()
                return os.fstat(out.fileno()).st_size
            finally:
                fcntl.flock(out, fcntl.LOCK_UN)

    def iter_chunks(self, key: str, piece: int = 1024 * 1024):
        with open(self._path(key), "rb") as source:
            while data := source.read(piece):
                yield data


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

    # --- large files -----------------------------------------------------------------

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def iter_chunks(self, key: str, piece: int = 1024 * 1024):
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(piece)
        finally:
            body.close()

    def start_multipart(self, key: str, content_type: str = "application/octet-stream") -> str:
        return self.client.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)["UploadId"]

    def presign_part(self, key: str, upload_id: str, part_number: int, expires: int) -> str:
        return self.client.generate_presigned_url("upload_part", ExpiresIn=expires, Params={
            "Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number})

    def uploaded_parts(self, key: str, upload_id: str) -> list[dict]:
        """[{PartNumber, ETag, Size}] of what the bucket holds, in order (every page)."""
        parts, marker = [], 0
        while True:
            page = self.client.list_parts(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker)
            parts.extend({"PartNumber": p["PartNumber"], "ETag": p["ETag"], "Size": p["Size"]}
                         for p in page.get("Parts", []))
            if not page.get("IsTruncated"):
                return parts
            marker = page["NextPartNumberMarker"]

    def complete_multipart(self, key: str, upload_id: str, parts: list[dict]) -> None:
        self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={
            "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]})

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def presign_download(self, key: str, filename: str, expires: int) -> str:
        disposition = f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
        return self.client.generate_presigned_url("get_object", ExpiresIn=expires, Params={
            "Bucket": self.bucket, "Key": key, "ResponseContentDisposition": disposition})


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


def get_build_storage():
    """Where game builds live: the bucket (under `builds/`, private, reached only with
    presigned URLs) with S3, else BUILD_DIR, a folder apart from UPLOAD_DIR so that
    /media, which serves UPLOAD_DIR to anyone, can never serve a build."""
    app = current_app
    if app.config.get("S3_BUCKET"):
        return get_storage()
    storage = app.extensions.get("build_storage")
    if storage is None:
        storage = app.extensions["build_storage"] = LocalStorage(app.config["BUILD_DIR"])
    return storage
