"""French and English: which language a visitor gets, that the French
catalogue is complete and really French, and that French pages show no
English (a stop-list checker over the visible text of every page, for a
visitor, a user and an admin)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app.models import Role, User, Visibility
from tests.helpers import add_track, csrf_from, login, post_form

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
# French that is the same word in English, and names.
SAME_IN_BOTH = {
    "Album",
    "Albums",
    "Genre",
    "Genres",
    "Admin",
    "Description",
    "Licence",
    "BPM",
    "Pause",
    "Pages",
    "Page %(page)s",
    "Volume",
    "%(n)s minute",
    "Public",
    "Format",
    "Formats",
    "Arguments",
    "Action",
    "Actions",
    "Quota",
    "Mono",
    "%(num)s album",
    "genre <bdi>%(genre)s</bdi>",
    "%(n)s kHz",
    "OK",
    # The admin page's transcoding card: the same words in French, and a program's name.
    "Cache",
    "Version",
    "ffmpeg",
}


def _html_lang(page: str) -> str:
    return re.search(r'<html lang="([^"]+)"', page).group(1)


# --- which language --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [("fr", "fr"), ("fr-CA,fr;q=0.9", "fr"), ("de-DE,fr;q=0.5", "fr"), ("de", "en"), ("en-GB", "en"), ("", "en")],
)
def test_the_browser_language_is_followed(client, accept, expected):
    page = client.get("/auth/login", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert _html_lang(page) == expected


def test_the_footer_switch_sets_a_cookie_for_visitors(client):
    response = client.post("/language", data={"lang": "fr", "next": "/auth/register"})
    assert response.status_code == 302 and response.headers["Location"] == "/auth/register"
    page = client.get("/auth/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert _html_lang(page) == "fr"  # the cookie beats the browser
    client.post("/language", data={"lang": "xx", "next": "//evil.example"})  # refused, no harm
    assert _html_lang(client.get("/auth/login").get_data(as_text=True)) == "fr"


def test_the_accounts_setting_beats_the_cookie_and_the_browser(alice, user, db):
    alice.set_cookie("lang", "en")
    response = post_form(alice, "/account", "/account/preferences", {"pref-language": "fr", "pref-timezone": ""})
    assert response.status_code == 302
    assert db.session.get(User, user.id).language == "fr"
    page = alice.get("/library", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert _html_lang(page) == "fr"
    # The footer switch, logged in, changes the setting (with the form's token).
    token = csrf_from(alice, "/library")
    alice.post("/language", data={"lang": "en", "next": "/library", "csrf_token": token})
    assert db.session.get(User, user.id).language == "en"


def test_a_logged_in_switch_without_its_token_changes_nothing(alice, user, db):
    assert alice.post("/language", data={"lang": "fr", "next": "/library"}).status_code == 400
    assert db.session.get(User, user.id).language is None


def test_time_zone_setting(alice, user, db):
    bad = post_form(alice, "/account", "/account/preferences", {"pref-language": "", "pref-timezone": "Mars/Olympus"})
    assert bad.status_code == 400
    good = post_form(alice, "/account", "/account/preferences", {"pref-language": "", "pref-timezone": "Europe/Paris"})
    assert good.status_code == 302
    assert db.session.get(User, user.id).timezone == "Europe/Paris"


def test_shared_pages_use_the_visitors_language(app, alice, user, db):
    from app.models import PlaylistVisibility
    from app.services import playlists

    user.language = "fr"
    track = add_track(user, "tagged.mp3")
    playlist = playlists.create(user.id, "Fête")
    playlists.add_tracks(user.id, playlist.id, [track.id])
    playlists.set_visibility(playlist, PlaylistVisibility.LINK)
    db.session.commit()
    visitor = app.test_client()
    page = visitor.get(f"/s/{playlist.share_token}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert _html_lang(page) == "en"


# --- the catalogue ---------------------------------------------------------------------


def _catalogue():
    with CATALOGUE.open("rb") as fh:
        return read_po(fh, locale="fr")


def test_every_text_is_translated_into_french():
    untranslated, same = [], []
    for message in _catalogue():
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if not all(strings) or message.fuzzy:
            untranslated.append(ids[0])
        elif strings[0] == ids[0] and ids[0] not in SAME_IN_BOTH:
            same.append(ids[0])
    assert untranslated == []
    assert same == []


def test_french_typography():
    """A no-break space before : ; ? ! and inside « guillemets », typographic apostrophes."""
    problems = []
    for message in _catalogue():
        if not message.id:
            continue  # the header
        for text in message.string if isinstance(message.string, tuple) else (message.string,):
            if re.search(r"[^\u00a0\u202f\s(][:;?!](\s|$)", text) or re.search(r" [:;?!]", text):
                problems.append(text)
            if "'" in text.replace("%(", "").replace("{", ""):
                problems.append(text)
    assert problems == []


# --- no English left on French pages ------------------------------------------------------

# Words that only English sentences are made of; a French page that shows one of
# them has a string left untranslated. (Titles and names in the test data are
# chosen to contain none.)
ENGLISH_STOP_WORDS = {
    "the",
    "and",
    "your",
    "you",
    "with",
    "from",
    "this",
    "that",
    "there",
    "here",
    "are",
    "is",
    "was",
    "will",
    "can",
    "not",
    "no",
    "of",
    "to",
    "for",
    "by",
    "in",
    "at",
    "it",
    "be",
    "has",
    "have",
    "all",
    "nothing",
    "yet",
    "more",
    "new",
    "add",
    "added",
    "delete",
    "deleted",
    "save",
    "saved",
    "edit",
    "upload",
    "uploads",
    "log",
    "sign",
    "password",
    "username",
    "track",
    "tracks",
    "playlist",
    "playlists",
    "library",
    "account",
    "search",
    "next",
    "previous",
    "play",
    "queue",
    "shuffle",
    "repeat",
    "mute",
    "favourite",
    "favourites",
    "share",
    "link",
    "remove",
    "cancel",
    "back",
    "change",
    "settings",
    "language",
    "time",
    "zone",
    "size",
    "length",
    "artist",
    "artists",
    "title",
    "year",
    "unknown",
    "private",
    "only",
    "everyone",
    "who",
    "what",
    "when",
    "where",
    "which",
    "why",
    "how",
    "users",
    "role",
    "used",
    "disabled",
    "enable",
    "disable",
    "confirm",
    "create",
    "created",
    "welcome",
    "logged",
    "out",
    "register",
    "jobs",
    "check",
    "retry",
    "failed",
    "running",
    "queued",
    "never",
    "unlimited",
    "bytes",
    "choose",
    "files",
    "drop",
    "close",
    "help",
    "keyboard",
    "shortcuts",
    "seek",
    "clear",
    "empty",
    "listen",
    "listens",
    "played",
}


class _VisibleText(HTMLParser):
    """The text a person sees or hears: element text (not scripts or styles) and
    the attributes a screen reader or tooltip speaks."""

    SPOKEN = ("aria-label", "title", "alt", "placeholder", "value")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0
        self._skip_tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        # translate="no": names that are the same in every language (time zones).
        if tag in ("script", "style") or attributes.get("translate") == "no":
            self._skip_tags.append(tag)
            self._skip += 1
        if self._skip:
            return
        for name in self.SPOKEN:
            if name == "value" and not (tag == "input" and attributes.get("type") in ("submit", "button")):
                continue
            if attributes.get(name):
                self.parts.append(attributes[name])

    def handle_endtag(self, tag):
        if self._skip_tags and tag == self._skip_tags[-1]:
            self._skip_tags.pop()
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def english_words(page: str) -> set[str]:
    parser = _VisibleText()
    parser.feed(page)
    words = set(re.findall(r"[A-Za-z]+", " ".join(parser.parts).lower()))
    return words & ENGLISH_STOP_WORDS


@pytest.fixture
def french_library(make_user, db, tmp_path):
    """An admin and a user who read French, with tracks whose names hold no English."""
    from tests import hostile

    admin = make_user("chef", role=Role.ADMIN, language="fr")
    user = make_user("ines", language="fr")
    for i, title in enumerate(["Ünus", "Duo", "Tres"]):
        content = hostile.mp3_with_tags(
            tmp_path / f"{i}.mp3", title=title, artist="Numéros", album="Comptine", track=str(i + 1)
        )
        add_track(user, f"{i}.mp3", content=content, visibility=Visibility.PUBLIC if i == 0 else Visibility.PRIVATE)
    return admin, user


def _pages_of(client, start: list[str]) -> list[str]:
    return start


USER_PAGES = [
    "/library",
    "/library/albums",
    "/library/artists",
    "/library/genres",
    "/library/history",
    "/library/upload",
    "/playlists",
    "/playlists/favourites",
    "/account/devices",
    "/account/history",
    "/account/stats",
    "/playlists/import",
    "/account",
    "/no-such-page",
]
ADMIN_PAGES = ["/admin/users", "/admin/users/new", "/admin/jobs", "/admin/limits"]
VISITOR_PAGES = ["/auth/login", "/auth/register", "/no-such-page"]


def test_french_pages_show_no_english(app, french_library, db):
    _admin, user = french_library
    seen: dict[str, set[str]] = {}
    visitor = app.test_client()
    for path in VISITOR_PAGES:
        page = visitor.get(path, headers={"Accept-Language": "fr"}).get_data(as_text=True)
        seen[f"visitor {path}"] = english_words(page)
    member = app.test_client()
    login(member, "ines")
    track = db.session.scalar(db.select(db.Model.metadata.tables["tracks"].c.id).limit(1))
    album = db.session.scalar(db.select(db.Model.metadata.tables["albums"].c.id).limit(1))
    artist = db.session.scalar(db.select(db.Model.metadata.tables["artists"].c.id).limit(1))
    extra = [f"/library/tracks/{track}", f"/library/tracks/{track}/edit", f"/library/albums/{album}"]
    extra += [f"/library/artists/{artist}", f"/playlists/add?track={track}"]
    for path in USER_PAGES + extra:
        seen[f"user {path}"] = english_words(member.get(path).get_data(as_text=True))
    chief = app.test_client()
    login(chief, "chef")
    for path in [*ADMIN_PAGES, f"/admin/users/{user.id}"]:
        seen[f"admin {path}"] = english_words(chief.get(path).get_data(as_text=True))
    left = {where: words for where, words in seen.items() if words}
    assert left == {}


def test_french_admin_page_leaves_paths_as_they_are(make_app, make_user, tmp_path):
    """A path is not prose: an ffmpeg installed under a folder named in English
    (CI clones into such folders) does not count as an untranslated word."""
    from app.services.audio_tools import ffmpeg_path

    real, _source = ffmpeg_path(None)
    folder = tmp_path / "check the library"
    folder.mkdir()
    (folder / "ffmpeg").symlink_to(real)
    app = make_app(FFMPEG=str(folder / "ffmpeg"))
    with app.app_context():
        make_user("chef", role=Role.ADMIN, language="fr")
        chief = app.test_client()
        login(chief, "chef")
        page = chief.get("/admin/jobs").get_data(as_text=True)
    assert "check the library/ffmpeg" in page
    assert english_words(page) == set()


# --- French error pages, dates and sizes ------------------------------------------------


def test_french_error_pages(make_app, make_user):
    app = make_app(MAX_CONTENT_LENGTH=1000, RATELIMIT_ENABLED=True, LOGIN_LIMIT_PER_IP="1 per minute")
    with app.app_context():
        make_user("alice")
        client = app.test_client()
        client.set_cookie("lang", "fr")
        missing = client.get("/no-such-page")
        assert missing.status_code == 404
        assert "Introuvable" in missing.get_data(as_text=True)
        too_large = client.post("/auth/login", data={"username": "x" * 2000})
        assert too_large.status_code == 413
        assert "Trop volumineux" in too_large.get_data(as_text=True)
        assert login(client, "alice", "not the password").status_code == 400
        limited = login(client, "alice", "not the password")
        assert limited.status_code == 429
        assert "Ralentissez" in limited.get_data(as_text=True)
        from app.extensions import limiter

        limiter.reset()


def test_the_track_page_shows_a_french_date_and_size(alice, user, db):
    from datetime import UTC, datetime

    user.language, user.timezone = "fr", "Europe/Paris"
    track = add_track(user, "tagged.flac")
    track.uploaded_at = datetime(2026, 3, 5, 21, 30, tzinfo=UTC)
    db.session.commit()
    page = alice.get(f"/library/tracks/{track.id}").get_data(as_text=True)
    assert "5 mars 2026, 22:30" in page  # Paris is UTC+1 in March
    size = track.size_bytes / 1000
    assert (
        f"{size:.1f}".replace(".", ",").replace(",0", "") + "\u00a0ko" in page
        or f"{size:.1f} ko".replace(".", ",") in page
    )
