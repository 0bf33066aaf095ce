"""Run deploy/nginx.conf on loopback without installing it (tests and benchmarks do).

    python deploy/nginx_local.py FOLDER APP_PORT PORT UPLOAD_FOLDER

writes FOLDER/nginx.conf: the site from deploy/nginx.conf listening on
127.0.0.1:PORT, in front of the app on 127.0.0.1:APP_PORT, serving this
checkout's static/ and UPLOAD_FOLDER, with its pid, logs, temporary files and
seek grants' cache in FOLDER. Then `nginx -c FOLDER/nginx.conf` runs it in the foreground.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
# The seek grants' map and locations, each between two marker comments.
GRANTS = re.compile(r"^ *# grants: begin.*?# grants: end\n", re.MULTILINE | re.DOTALL)


def _servers(ports: int | list[int]) -> str:
    """The upstream's server lines: one app server, or several (as deploy/nginx.conf shows)."""
    if isinstance(ports, int):
        return f"server 127.0.0.1:{ports};"
    return "\n    ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in ports)


def render(
    folder: Path,
    app_port: int | list[int],
    port: int,
    uploads: Path,
    *,
    grants: bool = True,
    grant_cache: Path | None = None,
    extra_servers: str = "",
    s3_endpoint: str | None = None,
) -> Path:
    """Write FOLDER/nginx.conf and return its path.

    `app_port` may be a list: several app servers in the upstream.
    `grants=False` leaves out the seek grants (every seek then asks the app,
    which answers with X-Accel-Redirect, as before grants); `grant_cache` is
    the grants' cache folder (FOLDER/grants by default); `extra_servers` adds
    server blocks; `s3_endpoint` (http://host:port) is the object store
    nginx fetches from for tracks kept there (STORAGE_URL=s3://...).
    """
    site = (DEPLOY / "nginx.conf").read_text()
    store = (s3_endpoint or "http://127.0.0.1:8333").rstrip("/")
    replacements = {
        "server 127.0.0.1:8000;": _servers(app_port),
        "listen 80;": f"listen 127.0.0.1:{port};",
        "/srv/musiccloud/static/": f"{ROOT / 'static'}/",
        "/srv/musiccloud/uploads/": f"{Path(uploads).resolve()}/",
        "/var/log/nginx/musiccloud.access.log": f"{folder}/musiccloud.access.log",
        "/run/musiccloud-grants": str(grant_cache or folder / "grants"),
        "/var/cache/nginx/musiccloud-audio": str(folder / "audio"),
        "proxy_pass http://127.0.0.1:8333/;": f"proxy_pass {store}/;",
    }
    if grants:
        replacements["proxy_pass http://127.0.0.1:8333$"] = f"proxy_pass {store}$"
    for old, new in replacements.items():
        if old not in site:
            raise ValueError(f"deploy/nginx.conf no longer contains {old!r}")
        site = site.replace(old, new)
    if not grants:
        site, found = GRANTS.subn("", site)
        if found != 2:
            raise ValueError("deploy/nginx.conf no longer marks its grants part")
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = " ".join(f"{kind}_temp_path {folder}/{kind};" for kind in kinds)
    conf = folder / "nginx.conf"
    conf.write_text(f"""
user root; worker_processes 2; daemon off; pid {folder}/nginx.pid; error_log {folder}/nginx-error.log;
events {{ worker_connections 2048; }}
http {{
  include /etc/nginx/mime.types;
  access_log off; keepalive_requests 100000; {temp}
  {site}
  {extra_servers}
}}
""")
    return conf


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    print(render(Path(sys.argv[1]).resolve(), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])))
