"""Numbers in URLs and query strings that no database column can hold, or that
are digits of another script, never reach a query: a plain 404 for ids, the
nearest page for page numbers. Every route that takes an id is tried, GET and
POST (with a valid CSRF token), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from app.models import Role
from app.web.params import IdConverter
from tests.helpers import add_track, csrf_from, login

HOSTILE_IDS = [
    "99999999999999999999",  # past 64 bits
    str(2**63),
    str(2**31),  # past PostgreSQL's INTEGER
    "\uff11",  # FULLWIDTH DIGIT ONE
    "\u0661",  # ARABIC-INDIC DIGIT ONE
    "0",
    "-1",
]


def _id_routes(app) -> list[tuple[str, str]]:
    """(URL template with {id} for every int part, method) for every route with an id."""
    found = []
    for rule in app.url_map.iter_rules():
        if not any(isinstance(conv, IdConverter) for conv in rule._converters.values()):
            continue
        template = re.sub(r"<int:\w+>", "{id}", rule.rule)
        if "<" in template:
            template = re.sub(r"<(?:\w+:)?\w+>", "x", template)
        for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
            found.append((template, method))
    return found


def test_every_id_route_is_covered(app):
    routes = _id_routes(app)
    paths = {t for t, _ in routes}
    for expected in ("/stream/{id}", "/library/tracks/{id}", "/playlists/{id}.m3u8", "/admin/users/{id}"):
        assert expected in paths
    assert len(routes) >= 25


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_hostile_ids_are_a_plain_404(app, client, make_user, hostile):
    admin = make_user("root", role=Role.ADMIN)
    add_track(admin, "tagged.mp3")  # track 1 exists: other digits must not reach it
    login(client, "root")
    token = csrf_from(client, "/library")
    for template, method in _id_routes(app):
        url = template.replace("{id}", hostile)
        data = None if method == "GET" else {"csrf_token": token}
        response = client.open(url, method=method, data=data)
        assert response.status_code == 404, (method, url, response.status_code)


@pytest.mark.parametrize("path", ["/library", "/library/albums", "/library/artists", "/admin/users"])
@pytest.mark.parametrize("page", ["99999999999999999999", "\uff12", "-5", "abc"])
def test_page_numbers_past_any_range_still_answer(client, make_user, path, page):
    make_user("root", role=Role.ADMIN)
    login(client, "root")
    assert client.get(f"{path}?page={page}").status_code == 200


@pytest.mark.parametrize("param", ["artist", "album"])
def test_filters_past_any_range_still_answer(client, make_user, param):
    owner = make_user("root", role=Role.ADMIN)
    add_track(owner, "tagged.mp3")
    login(client, "root")
    assert "Beyoncé Tone" in client.get("/library").get_data(as_text=True)
    for value in ("99999999999999999999", str(2**31), "\uff11"):
        response = client.get(f"/library?{param}={value}")
        assert response.status_code == 200
        # No id at all: ignored, like any malformed filter ("abc").
        assert "Beyoncé Tone" in response.get_data(as_text=True)


def test_a_full_width_digit_does_not_reach_track_one(client, make_user):
    owner = make_user("root", role=Role.ADMIN)
    track = add_track(owner, "tagged.mp3")
    login(client, "root")
    assert client.get(f"/library/tracks/{track.id}").status_code == 200
    full_width = "".join(chr(0xFF10 + int(d)) for d in str(track.id))
    assert client.get(f"/library/tracks/{full_width}").status_code == 404
    assert client.get(f"/stream/{full_width}").status_code == 404
