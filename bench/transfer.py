"""Build upload and download throughput on local storage, and the server's memory.

    .venv/bin/python -m bench.transfer [--mb 1024] [--rounds 1]

Starts a private deployment with bench/harness (a fresh PostgreSQL database,
TRANSFER_DB default pt_builds_bench, on the server of PLAYCATION_PG_URL /
TEST_DATABASE_URL, else postgres@127.0.0.1:5432; a private redis-server; one gunicorn
node with one gevent worker, as production runs it; one RQ worker). Then:

  baseline   copy the file on the same disk (shutil.copyfile) and read it back; then
             the same PUTs and a GET against a bare WSGI app (bench.transfer:bare_app)
             under the same gunicorn settings, which only reads or streams the bytes
  upload     a publisher sends the file as the page's script does: PUT 8 MiB chunks to
             /publisher/builds/<id>/upload?offset=N, one after the other
  verify     the RQ job reads the stored file back and hashes it (complete → ready)
  download   an owner presses Download and reads the signed link to the end, hashing it

While the upload and the download run, a thread samples the RSS of the gunicorn worker
(and of the RQ worker with its work-horse during verification) every 100 ms. The script
prints MB/s for each phase, each as a ratio of the disk copy, and the RSS before, at its
peak and after; it exits 1 when the downloaded file's SHA-256 differs or when a server
process grew by more than --max-growth-mb (default 64) while moving the file: memory
must stay flat because nothing holds the file, or a chunk of it, whole.
"""
import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (Cluster, Visitor, free_port, grant, host, log, make_game, make_users, postgres_url,  # noqa: E402
                           start_gunicorn, table, wait_for)

MiB = 1024 * 1024
CHUNK = 8 * MiB


def bare_app(environ, start_response):
    """The HTTP baseline, served by the same gunicorn settings: PUT reads the body in
    1 MiB pieces and drops it; GET streams BARE_FILE with the server's file wrapper."""
    if environ["REQUEST_METHOD"] == "PUT":
        stream, left = environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0)
        while left > 0:
            data = stream.read(min(MiB, left))
            if not data:
                break
            left -= len(data)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    path = os.environ["BARE_FILE"]
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(os.path.getsize(path)))])
    return environ["wsgi.file_wrapper"](open(path, "rb"), MiB)


def bare_transfer(port: int, path: Path) -> tuple[float, float]:
    """(upload seconds, download seconds) of the file through bare_app."""
    import requests

    http = requests.Session()
    started = time.perf_counter()
    with open(path, "rb") as source:
        while data := source.read(CHUNK):
            assert http.put(f"http://127.0.0.1:{port}/", data=data, timeout=120).status_code == 200
    up = time.perf_counter() - started
    started = time.perf_counter()
    with http.get(f"http://127.0.0.1:{port}/", stream=True, timeout=120) as got:
        for _ in got.iter_content(MiB):
            pass
    return up, time.perf_counter() - started


class RssSampler(threading.Thread):
    """The summed RSS of a process and its children, every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.root, self.interval = psutil.Process(pid), interval
        self.samples: list[int] = []
        self.halt = threading.Event()

    def rss(self) -> int:
        total = 0
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self):
        while not self.halt.is_set():
            self.samples.append(self.rss())
            self.halt.wait(self.interval)

    def stop(self) -> dict:
        self.halt.set()
        self.join()
        after = self.rss()
        return {"before": self.samples[0], "peak": max(self.samples + [after]), "after": after,
                "count": len(self.samples)}


def make_payload(path: Path, size: int) -> str:
    """`size` bytes of incompressible data (a random MiB, each copy made different by its
    index), written in 1 MiB pieces; returns its SHA-256."""
    block, digest = os.urandom(MiB), hashlib.sha256()
    with open(path, "wb") as out:
        for i in range(0, size, MiB):
            piece = (i.to_bytes(8, "big") + block[8:])[:min(MiB, size - i)]
            out.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def disk_baseline(path: Path, folder: Path) -> tuple[float, float]:
    """(copy seconds, read seconds) of the same file on the same disk."""
    copy = folder / "copy.bin"
    started = time.perf_counter()
    shutil.copyfile(path, copy)
    os.sync()
    copy_s = time.perf_counter() - started
    started = time.perf_counter()
    with open(copy, "rb") as source:
        while source.read(MiB):
            pass
    read_s = time.perf_counter() - started
    copy.unlink()
    return copy_s, read_s


def gunicorn_worker_pid(master_pid: int) -> int:
    workers = psutil.Process(master_pid).children()
    assert len(workers) == 1, f"expected one gunicorn worker, found {len(workers)}"
    return workers[0].pid


CHUNK_TIMES: list[float] = []


def upload(publisher: Visitor, node, game_id: int, path: Path, size: int) -> tuple[int, float]:
    publisher.refresh_token(path=f"/publisher/games/{game_id}/builds")
    res = publisher.http.post(f"{node.url}/publisher/games/{game_id}/builds", timeout=30, headers={
        "Accept": "application/json"}, data={"csrf_token": publisher.token, "version": "1.0", "platform": "linux",
                                              "notes": "bench", "filename": path.name, "size": str(size)})
    assert res.status_code == 201, res.text
    plan = res.json()
    started = time.perf_counter()
    with open(path, "rb") as source:
        offset = 0
        while data := source.read(plan["chunk_size"]):
            sent = time.perf_counter()
            res = publisher.http.put(f"{node.url}{plan['upload_url']}?offset={offset}", data=data, timeout=120,
                                     headers={"X-CSRFToken": publisher.token, "Accept": "application/json",
                                              "Content-Type": "application/octet-stream"})
            assert res.status_code == 200, res.text
            CHUNK_TIMES.append(time.perf_counter() - sent)
            offset = res.json()["received"]
    return plan["id"], time.perf_counter() - started


def verify(publisher: Visitor, node, build_id: int, sha256: str) -> float:
    started = time.perf_counter()
    res = publisher.http.post(f"{node.url}/publisher/builds/{build_id}/complete", timeout=60,
                              headers={"Accept": "application/json"},
                              data={"csrf_token": publisher.token, "sha256": sha256})
    assert res.status_code == 200, res.text

    def ready():
        status = publisher.http.get(f"{node.url}/publisher/builds/{build_id}/upload", timeout=30).json()["status"]
        assert status != "failed", "the server's checksum differs"
        return status == "ready"

    wait_for(ready, "the build to be verified", timeout=900, interval=0.25)
    return time.perf_counter() - started


def download(owner: Visitor, node, build_id: int) -> tuple[str, int, float]:
    owner.refresh_token(path="/library")
    res = owner.http.post(f"{node.url}/library/builds/{build_id}/download", data={"csrf_token": owner.token},
                          allow_redirects=False, timeout=30)
    assert res.status_code == 303, res.text
    digest, size = hashlib.sha256(), 0
    started = time.perf_counter()
    with owner.http.get(f"{node.url}{res.headers['Location']}", stream=True, timeout=120) as got:
        assert got.status_code == 200, got.status_code
        for piece in got.iter_content(MiB):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size, time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=1024, help="file size in MiB (default 1024)")
    parser.add_argument("--max-growth-mb", type=int, default=64)
    args = parser.parse_args(argv)
    size = args.mb * MiB
    pg = postgres_url() or "postgresql://postgres@127.0.0.1:5432/postgres"
    folder = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    log(f"host {host()}; file {args.mb} MiB in {folder}")
    cluster = Cluster(folder, pg, os.environ.get("TRANSFER_DB", "pt_builds_bench"), BUILD_DIR=str(folder / "builds"),
                      RATELIMIT_DOWNLOAD="1000 per hour", TRUSTED_PROXIES="0")
    failed = False
    try:
        payload = folder / "build.bin"
        sha = make_payload(payload, size)
        copy_s, read_s = disk_baseline(payload, folder)
        bare_port = free_port()
        bare = start_gunicorn("bench.transfer:bare_app", {**os.environ, "BIND": f"127.0.0.1:{bare_port}",
                              "WEB_CONCURRENCY": "1", "BARE_FILE": str(payload)}, folder / "bare.log")
        try:
            import requests

            wait_for(lambda: requests.get(f"http://127.0.0.1:{bare_port}/", stream=True, timeout=2).status_code == 200,
                     "the bare gunicorn", timeout=60, interval=0.2)
            bare_up_s, bare_down_s = bare_transfer(bare_port, payload)
        finally:
            bare.stop()
        log(f"bare gunicorn: PUT {bare_up_s:.1f} s, GET {bare_down_s:.1f} s")
        cluster.start_infrastructure()
        node = cluster.start_node()
        cluster.start_worker("worker")
        cluster.wait_workers(1)
        app = cluster.app()
        publisher_row, = make_users(app, 1, role="publisher", prefix="pub")
        owner_row, = make_users(app, 1, prefix="own")
        game = make_game(app, publisher_row.id, "Transfer Bench")
        grant(app, owner_row.id, game.id)
        publisher, owner = Visitor([node]), Visitor([node])
        assert publisher.login(publisher_row.email).status_code == 302
        assert owner.login(owner_row.email).status_code == 302
        web_pid = gunicorn_worker_pid(node.proc.popen.pid)
        worker_pid = next(p for p in cluster.procs if p.name == "worker").popen.pid

        sampler = RssSampler(web_pid)
        sampler.start()
        build_id, up_s = upload(publisher, node, game.id, payload, size)
        up_rss = sampler.stop()
        tenth = max(1, len(CHUNK_TIMES) // 10)
        log(f"upload: {up_s:.1f} s; per chunk ms: first tenth median "
            f"{1000 * sorted(CHUNK_TIMES[:tenth])[tenth // 2]:.0f}, last tenth median "
            f"{1000 * sorted(CHUNK_TIMES[-tenth:])[tenth // 2]:.0f}, max {1000 * max(CHUNK_TIMES):.0f}")

        sampler = RssSampler(worker_pid)
        sampler.start()
        verify_s = verify(publisher, node, build_id, sha)
        verify_rss = sampler.stop()
        log(f"verify: {verify_s:.1f} s")
        publisher.refresh_token(path=f"/publisher/games/{game.id}/builds")
        res = publisher.http.post(f"{node.url}/publisher/builds/{build_id}/publish",
                                  data={"csrf_token": publisher.token}, allow_redirects=False, timeout=30)
        assert res.status_code == 302, res.status_code

        sampler = RssSampler(web_pid)
        sampler.start()
        got_sha, got_size, down_s = download(owner, node, build_id)
        down_rss = sampler.stop()
        log(f"download: {down_s:.1f} s")
        if got_sha != sha or got_size != size:
            log(f"FAIL: downloaded {got_size} bytes, SHA-256 {got_sha}, expected {size} and {sha}")
            failed = True

        mb = size / 1e6

        def row(name, seconds, bare_s=None, rss=None):
            return [name, seconds, mb / seconds, copy_s / seconds, bare_s / seconds if bare_s else None,
                    rss["before"] / MiB if rss else None, rss["peak"] / MiB if rss else None]

        rows = [row("disk copy (baseline)", copy_s), row("disk read", read_s),
                row("bare gunicorn PUT 8 MiB (HTTP baseline)", bare_up_s, bare_up_s),
                row("bare gunicorn GET (HTTP baseline)", bare_down_s, bare_down_s),
                row("upload (PUT 8 MiB chunks)", up_s, bare_up_s, up_rss),
                row("verify (worker reads, SHA-256)", verify_s, None, verify_rss),
                row("download (signed link)", down_s, bare_down_s, down_rss)]
        print(table(["phase", "seconds", "MB/s", "× disk copy", "× bare HTTP", "RSS before MiB", "RSS peak MiB"],
                    rows, ["", ".1f", ".0f", ".2f", ".2f", ".0f", ".0f"]))
        for name, rss in (("web worker, upload", up_rss), ("RQ worker, verify", verify_rss),
                          ("web worker, download", down_rss)):
            growth = (rss["peak"] - rss["before"]) / MiB
            log(f"{name}: RSS grew {growth:.1f} MiB at most ({rss['count']} samples)")
            if growth > args.max_growth_mb:
                log(f"FAIL: {name} grew by more than {args.max_growth_mb} MiB")
                failed = True
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
