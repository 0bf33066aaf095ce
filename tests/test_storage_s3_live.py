"""Tracks in the object store, served by real servers: gunicorn on its own (the app
reads ranges from the store) and deploy/nginx.conf in front of gunicorn (nginx
fetches the presigned address the app hands it), with a real SeaweedFS."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import DATA, free_port, wait_for_port
from tests.seaweed import TEST_BUCKET, Seaweed, new_prefix
from tests.servers import Gunicorn, flask, log_in, request, server_env, upload

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
import nginx_local  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PASSWORD = "serving password"


@dataclass
class Live:
    nginx: int
    app: Gunicorn
    cookie: str
    track: int
    data: bytes
    database_url: str
    uploads: Path
    settings: dict[str, str]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, start_gunicorn, seaweedfs: Seaweed) -> Iterator[Live]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: `make test` installs Debian's nginx-light")
    tmp = tmp_path_factory.mktemp("s3live")
    database_url, uploads = f"sqlite:///{tmp / 's3.db'}", tmp / "uploads"
    settings = {
        **seaweedfs.settings(TEST_BUCKET, new_prefix()),
        "RATELIMIT_ENABLED": "false",
        "SEND_FILE_MODE": "x-accel",
        "TRUSTED_PROXIES": "1",
    }
    env = server_env(database_url, uploads, **settings)
    flask(env, "db", "upgrade")
    flask(env, "create-admin", "owner", stdin=f"{PASSWORD}\n" * 2)
    app = start_gunicorn(database_url, uploads, **settings)
    port = free_port()
    conf = nginx_local.render(tmp, app.port, port, uploads, s3_endpoint=seaweedfs.endpoint)
    nginx = subprocess.Popen([NGINX, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_port(port), f"nothing listens on {port}"
        cookie = log_in(port, "owner", PASSWORD)
        data = (DATA / "cover.flac").read_bytes()
        result = upload(port, cookie, "song.flac", data)
        assert result["status"] == "added", result
        yield Live(port, app, cookie, result["track"]["id"], data, database_url, uploads, settings)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-1", 0, 1), ("bytes=1000-5999", 1000, 5999), ("bytes=-700", None, None), ("bytes=30000-", 30000, None)],
)
def test_a_range_through_nginx_is_exactly_the_files_bytes(live, header, first, last):
    size = len(live.data)
    if first is None:
        first, last = size - 700, size - 1
    last = size - 1 if last is None else last
    status, headers, body = request(
        live.nginx, f"/stream/{live.track}", headers={"Cookie": live.cookie, "Range": header}
    )
    assert status == 206, body[:300]
    assert headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert body == live.data[first : last + 1]
    assert headers["content-type"] == "audio/flac"
    assert headers["x-content-type-options"] == "nosniff"
    assert not any(name.startswith("x-amz") for name in headers)
    assert "x-accel-redirect" not in headers


def test_the_whole_file_and_a_download_through_nginx(live):
    status, headers, body = request(live.nginx, f"/stream/{live.track}", headers={"Cookie": live.cookie})
    assert status == 200
    assert body == live.data
    status, headers, body = request(live.nginx, f"/stream/{live.track}/download", headers={"Cookie": live.cookie})
    assert status == 200
    assert body == live.data
    assert headers["content-disposition"].startswith("attachment")


def test_without_a_session_nginx_gives_the_apps_no(live):
    status, _, body = request(live.nginx, f"/stream/{live.track}", headers={"Range": "bytes=0-1"})
    assert status in (302, 401)
    assert live.data[:2] not in body or len(body) > 2


def test_gunicorn_alone_reads_ranges_from_the_store(start_gunicorn, live):
    """The same instance's database and store, without nginx: the app streams the range itself."""
    status, headers, body = request(
        live.app.port, f"/stream/{live.track}", headers={"Cookie": live.cookie, "Range": "bytes=100-2099"}
    )
    # This server is told it sits behind nginx (x-accel): it answers with the hand-off.
    assert status == 200 and "x-accel-redirect" in headers
    plain = start_gunicorn(live.database_url, live.uploads, **{**live.settings, "SEND_FILE_MODE": "python"})
    status, headers, body = request(
        plain.port, f"/stream/{live.track}", headers={"Cookie": live.cookie, "Range": "bytes=100-2099"}
    )
    assert status == 206
    assert headers["content-range"] == f"bytes 100-2099/{len(live.data)}"
    assert body == live.data[100:2100]
