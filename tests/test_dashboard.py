"""The admin's dashboard: renders on an empty instance, counts right, names only public music."""

from __future__ import annotations

import re

from app.models import Visibility
from app.services import listening
from app.unit_of_work import commit
from tests import hostile
from tests.helpers import add_track, login


def test_dashboard_for_admins_only_and_private_music_only_counted(app, client, admin, user, make_user, tmp_path):
    login(client, "admin")
    page = client.get("/admin/").get_data(as_text=True)
    assert 'data-figure="tracks">0<' in page and "No listens yet." in page

    specs = [("Open song", "Pub", "Folk", Visibility.PUBLIC), ("Hidden song", "Secret", "Noise", Visibility.PRIVATE)]
    made = []
    for i, (title, artist, genre, visibility) in enumerate(specs):
        content = hostile.mp3_with_tags(tmp_path / f"{i}.mp3", title=title, artist=artist, album="A", genre=genre)
        made.append(add_track(user, f"{i}.mp3", visibility=visibility, content=content))
    for track in made:
        listening.record_play(user.id, track.id)
        commit()
    page = client.get("/admin/").get_data(as_text=True)
    assert 'data-figure="tracks">2<' in page and 'data-figure="listeners">1<' in page
    assert "<bdi>Open song</bdi> — <bdi>Pub</bdi> (1)" in page and "<bdi>Folk</bdi>" in page
    assert "Hidden song" not in page and "Secret" not in page and "Noise" not in page
    assert re.search(r'data-table="storage">.*<th scope="row">alice</th><td>2</td>', page, re.S)
    assert re.search(r'data-table="plays">.*<td>2</td>', page, re.S)

    alice = app.test_client()
    login(alice, "alice")
    assert alice.get("/admin/").status_code in {403, 404}
