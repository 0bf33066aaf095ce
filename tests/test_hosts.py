"""The Host header cannot put another site's name in the links the app writes:
TRUSTED_HOSTS refuses other hosts (400), PUBLIC_URL builds every absolute link."""

from __future__ import annotations

import re
from contextlib import contextmanager

from tests.helpers import owner_with_track, post_form


@contextmanager
def _started(make_app, **config):
    """An app with alice and one track, and alice's client."""
    app = make_app(**config)
    with app.app_context():
        client, _, track = owner_with_track(app, "tagged.mp3")
        yield client, track


def _shared_playlist(client, track_id: int) -> tuple[int, str]:
    """Create a playlist with the track, share it by link; (id, its edit page)."""
    response = post_form(client, "/playlists", "/playlists", {"name": "Trip", "description": ""})
    pid = int(response.headers["Location"].rsplit("/", 1)[1])
    post_form(client, f"/playlists/add?track={track_id}", f"/playlists/add?track={track_id}", {"playlist": str(pid)})
    post_form(client, f"/playlists/{pid}/edit", f"/playlists/{pid}/sharing", {"visibility": "link", "expires": ""})
    page = client.get(f"/playlists/{pid}/edit").get_data(as_text=True)
    return pid, page


def test_public_url_builds_share_links_and_exports(make_app):
    # The test client sends SERVER_NAME as the Host of every request: here an
    # attacker's name, which must not reach the links.
    with _started(make_app, PUBLIC_URL="https://music.example.org", SERVER_NAME="evil.example") as (client, track):
        pid, page = _shared_playlist(client, track.id)
        link = re.search(r'id="share-url" type="text" readonly value="([^"]+)"', page).group(1)
        assert link.startswith("https://music.example.org/s/")
        assert "evil.example" not in page
        export = client.get(f"/playlists/{pid}.m3u8").get_data(as_text=True)
        urls = [line for line in export.splitlines() if line.startswith("http")]
        assert urls == [f"https://music.example.org/stream/{track.id}"]


def test_without_public_url_links_follow_the_host(make_app):
    # Development: no setting, the links use the host the browser asked for.
    with _started(make_app, SERVER_NAME="localhost:5000") as (client, track):
        _pid, page = _shared_playlist(client, track.id)
        assert 'value="http://localhost:5000/s/' in page


def test_untrusted_hosts_are_refused(make_app):
    config = {"TRUSTED_HOSTS": ["music.example.org"], "SERVER_NAME": "music.example.org"}
    with _started(make_app, **config) as (client, track):
        assert client.get("/library").status_code == 200
        assert client.get(f"/stream/{track.id}", headers={"Range": "bytes=0-9"}).status_code == 206
        for url in ("/library", "/auth/login", f"/stream/{track.id}", f"/stream/{track.id}/cover"):
            response = client.get(url, headers={"Host": "evil.example", "Range": "bytes=0-9"})
            assert response.status_code == 400, url
            assert response.headers["X-Content-Type-Options"] == "nosniff"
