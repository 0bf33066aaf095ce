"""Your listening stats and your year in review: the figures match a hand-built history,
in the user's time zone, and every chart has its table."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.extensions import db
from app.models import PlayEvent, Visibility
from app.models.types import utcnow
from app.services import accounts
from app.unit_of_work import commit
from app.web.formatting import format_duration
from tests import hostile
from tests.helpers import add_track, table_rows

Y = utcnow().year - 1  # last year: a whole year behind us


def _history(user, make_user, tmp_path):
    """Alice (Paris) listens to three tracks of hers; Carol's private track can never be hers."""
    made = []
    for i, (title, artist, genre) in enumerate(
        [("One", "Ann", "Folk"), ("Two", "Ann", "Folk"), ("Three", "Bo", "Jazz")]
    ):
        content = hostile.mp3_with_tags(tmp_path / f"{i}.mp3", title=title, artist=artist, album="A", genre=genre)
        made.append(add_track(user, f"{i}.mp3", content=content))
    carol = make_user("carol")
    content = hostile.mp3_with_tags(tmp_path / "b.mp3", title="Bob secret", artist="Bob", album="B", genre="Noise")
    secret = add_track(carol, "b.mp3", visibility=Visibility.PRIVATE, content=content)
    accounts.set_time_zone(user, "Europe/Paris")
    commit()
    # 22:30 UTC is 23:30 in Paris in winter: pick winter days for the checks.
    base = datetime(Y, 12, 10, 22, 30, tzinfo=UTC)
    rows = [
        (made[2], datetime(Y - 1, 6, 1, 12, 0, tzinfo=UTC)),  # Bo, heard the year before
        (made[2], datetime(Y - 1, 12, 31, 23, 30, tzinfo=UTC)),  # 00:30 on 1 January Y in Paris
        (made[0], base),  # 23:30 Paris on 10 December
        (made[0], base + timedelta(hours=1)),  # 00:30 Paris on 11 December
        (made[1], base + timedelta(hours=12)),  # 11 December
        (made[2], base + timedelta(days=6)),  # 16 December, the next week
        (secret, base),  # can never have been Alice's, and is not counted
    ]
    for track, at in rows:
        db.session.add(PlayEvent(user_id=user.id, track_id=track.id, played_at=at))
    commit()
    return made


def test_stats_match_a_hand_built_history(alice, user, make_user, tmp_path):
    page = alice.get("/account/stats").get_data(as_text=True)
    assert "No listens in this period." in page and "data-years" not in page
    made = _history(user, make_user, tmp_path)
    length = made[0].duration  # the three files are the same length

    page = alice.get("/account/stats?period=all").get_data(as_text=True)
    assert re.search(r'data-stat="plays">6<', page)
    assert re.search(r'data-stat="time">' + re.escape(format_duration(6 * length)) + "<", page)
    assert re.search(r'data-stat="longest">2 days<', page) and re.search(r'data-stat="current">0 days<', page)
    # All time is drawn by month: one bar per month from the first listen, the table lists the months with listens.
    assert table_rows(page, "listening") == [
        [f"June {Y - 1}", "1", format_duration(length)],
        [f"January {Y}", "1", format_duration(length)],
        [f"December {Y}", "4", format_duration(4 * length)],
    ]
    chart = page.split('data-chart="listening"')[1].split("</svg>")[0]
    today = utcnow().astimezone(ZoneInfo("Europe/Paris")).date()
    months = today.year * 12 + today.month - ((Y - 1) * 12 + 6) + 1
    assert chart.count("<rect") == months and f"<title>December {Y}: 4, {format_duration(4 * length)}</title>" in chart
    assert "<bdi>One</bdi> — <bdi>Ann</bdi> (2)" in page
    assert re.search(r'data-top="artists"><li><bdi>Ann</bdi> \(3\)</li><li><bdi>Bo</bdi> \(3\)', page)
    assert re.search(
        r'data-top="albums"><li><bdi>A</bdi> — <bdi>Ann</bdi> \(3\)</li><li><bdi>A</bdi> — <bdi>Bo</bdi> \(3\)', page
    )
    assert re.search(r'data-top="genres"><li><bdi>Folk</bdi> \(3\)</li><li><bdi>Jazz</bdi> \(3\)', page)
    assert "Bob secret" not in page and "Noise" not in page
    years = page.split("data-years")[1].split("</p>")[0]
    assert re.findall(r">(\d{4})</a>", years) == [str(Y), str(Y - 1)]

    # By day: the listen at 23:30 Paris counts for the 10th, the one an hour later for the 11th.
    page = alice.get("/account/stats?period=all&by=day").get_data(as_text=True)
    assert [r[:2] for r in table_rows(page, "listening")] == [
        [f"Jun 1, {Y - 1}", "1"],
        [f"Jan 1, {Y}", "1"],
        [f"Dec 10, {Y}", "1"],
        [f"Dec 11, {Y}", "2"],
        [f"Dec 16, {Y}", "1"],
    ]
    page = alice.get("/account/stats?period=all&by=week").get_data(as_text=True)
    assert [r[:2] for r in table_rows(page, "listening")][-2:] == [
        [f"Week of Dec 8, {Y}", "3"],
        [f"Week of Dec 15, {Y}", "1"],
    ]
    # The last 7 days hold none of it; a bad period or scale falls back to the usual one.
    assert "No listens in this period." in alice.get("/account/stats?period=week").get_data(as_text=True)
    assert alice.get("/account/stats?period=bogus&by=year").status_code == 200
    page = alice.get("/account/stats?period=all&by=bogus").get_data(as_text=True)
    assert 'aria-current="page">By month<' in page


def test_year_in_review(alice, bob, user, make_user, tmp_path):
    made = _history(user, make_user, tmp_path)
    length = made[0].duration
    page = alice.get("/account/stats?period=all").get_data(as_text=True)
    assert f'href="/account/stats/year/{Y}"' in page

    page = alice.get(f"/account/stats/year/{Y}").get_data(as_text=True)
    assert f"Your {Y} in music" in page
    # The listen at 23:30 UTC on 31 December Y-1 is 00:30 on 1 January Y in Paris: it is Y's.
    assert re.search(r'data-stat="plays">5<', page)
    assert re.search(r'data-stat="time">' + re.escape(format_duration(5 * length)) + "<", page)
    assert re.search(r'data-stat="days">4<', page)
    assert re.search(r'data-stat="longest">2 days<', page)
    assert re.search(rf'data-stat="busiest-month">December {Y} \(4 listens\)<', page)
    assert re.search(rf'data-stat="busiest-day">Dec 11, {Y} \(2 listens\)<', page)
    assert re.search(rf'data-stat="first"><bdi>Three</bdi> — <bdi>Bo</bdi>, Jan 1, {Y}, 12:30\sAM<', page)
    # Bo was heard the year before: only Ann is new.
    assert re.search(r'data-stat="new-artists">1<', page)
    assert re.search(r'data-top="new-artists"><li><bdi>Ann</bdi> \(3\)</li></ol>', page)
    months = table_rows(page, "months")
    assert [m[0] for m in months] == [f"{m} {Y}" for m in calendar.month_name[1:]]
    assert months[0][1:] == ["1", format_duration(length)] and months[11][1:] == ["4", format_duration(4 * length)]
    assert all(m[1] == "0" for m in months[1:11])
    assert page.split('data-chart="months"')[1].split("</svg>")[0].count("<rect") == 12
    assert re.search(r'data-top="artists"><li><bdi>Ann</bdi> \(3\)</li><li><bdi>Bo</bdi> \(2\)', page)
    assert "Bob secret" not in page

    page = alice.get(f"/account/stats/year/{Y - 1}").get_data(as_text=True)
    assert re.search(r'data-stat="plays">1<', page) and re.search(r'data-stat="new-artists">1<', page)
    assert re.search(rf'data-stat="busiest-month">June {Y - 1} \(1 listen\)<', page)
    # A year without listens, and someone else's years, are not found.
    assert alice.get("/account/stats/year/1999").status_code == 404
    assert bob.get(f"/account/stats/year/{Y}").status_code == 404


def test_year_in_review_in_french(alice, user, make_user, tmp_path):
    _history(user, make_user, tmp_path)
    page = alice.get(f"/account/stats/year/{Y}", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert f"Votre année {Y} en musique" in page
    assert f"décembre {Y}" in page and "Artistes découverts" in page
