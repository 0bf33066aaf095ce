"""Your listening stats: the figures match a hand-built history, in the user's time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from app.extensions import db
from app.models import PlayEvent, Visibility
from app.models.types import utcnow
from app.services import accounts
from app.unit_of_work import commit
from tests import hostile
from tests.helpers import add_track


def test_stats_match_a_hand_built_history(alice, user, make_user, tmp_path):
    assert "No listens in this period." in alice.get("/account/stats").get_data(as_text=True)
    made = []
    for i, (title, artist, genre) in enumerate(
        [("One", "Ann", "Folk"), ("Two", "Ann", "Folk"), ("Three", "Bo", "Jazz")]
    ):
        content = hostile.mp3_with_tags(tmp_path / f"{i}.mp3", title=title, artist=artist, album="A", genre=genre)
        made.append(add_track(user, f"{i}.mp3", content=content))
    bob = make_user("bob")
    content = hostile.mp3_with_tags(tmp_path / "b.mp3", title="Bob secret", artist="Bob", album="B", genre="Noise")
    secret = add_track(bob, "b.mp3", visibility=Visibility.PRIVATE, content=content)
    accounts.set_time_zone(user, "Europe/Paris")
    commit()
    today = utcnow().astimezone(UTC).date()
    # 22:30 UTC is 23:30 in Paris in winter, 00:30 in summer: pick a winter-time day for the check.
    base = datetime(today.year - 1, 12, 10, 22, 30, tzinfo=UTC)
    rows = [
        (made[0], base),  # 23:30 Paris on 10 December
        (made[0], base + timedelta(hours=1)),  # 00:30 Paris on 11 December
        (made[1], base + timedelta(hours=12)),  # 11 December
        (made[2], base + timedelta(days=3)),
        (secret, base),  # can never have been Alice's, and is not counted
    ]
    for track, at in rows:
        db.session.add(PlayEvent(user_id=user.id, track_id=track.id, played_at=at))
    commit()
    page = alice.get("/account/stats?period=all").get_data(as_text=True)
    assert re.search(r'data-stat="plays">4<', page)
    assert f'data-day="{base.date().isoformat()}"><th scope="row">{base.date().isoformat()}</th><td>1<' in page
    next_day = (base + timedelta(days=1)).date().isoformat()
    assert f'data-day="{next_day}"><th scope="row">{next_day}</th><td>2<' in page
    assert re.search(r'data-stat="longest">2 days<', page) and re.search(r'data-stat="current">0 days<', page)
    assert "<bdi>One</bdi> — <bdi>Ann</bdi> (2)" in page
    assert re.search(r'data-top="artists"><li><bdi>Ann</bdi> \(3\)</li><li><bdi>Bo</bdi> \(1\)', page)
    assert re.search(r'data-top="genres"><li><bdi>Folk</bdi> \(3\)</li><li><bdi>Jazz</bdi> \(1\)', page)
    assert "Bob secret" not in page and "Noise" not in page
    # The last 7 days hold none of it; a bad period falls back to the month.
    assert "No listens in this period." in alice.get("/account/stats?period=week").get_data(as_text=True)
    assert alice.get("/account/stats?period=bogus").status_code == 200
