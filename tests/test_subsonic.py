"""The Subsonic API through Flask's test client: the auth matrix, XML and JSON,
visibility, hostile parameters and the log."""

from __future__ import annotations

import hashlib
import logging
import xml.etree.ElementTree as ET

import pytest

from app.models import Track, Visibility
from app.services import accounts, credentials
from app.unit_of_work import commit
from tests.helpers import add_track

NS = "{http://subsonic.org/restapi}"


@pytest.fixture
def keys(app, user, make_user):
    """alice's app password and API key, bob's app password, and the tracks: alice's
    private one, bob's private one and bob's public one."""
    _row, password = credentials.create_app_password(user.id, "Phone")
    _row, api_key = credentials.create_api_key(user.id, "Desk")
    bob = make_user("bob")
    _row, bob_password = credentials.create_app_password(bob.id, "Phone")
    commit()
    mine = add_track(user, "tagged.mp3")
    bobs_private = add_track(bob, "tagged.flac")
    bobs_public = add_track(bob, "cover.mp3", visibility=Visibility.PUBLIC)
    return {
        "password": password,
        "api_key": api_key,
        "bob_password": bob_password,
        "mine": mine.id,
        "bobs_private": bobs_private.id,
        "bobs_public": bobs_public.id,
        "user": user,
        "bob": bob,
    }


def api(client, method: str, *, post: bool = False, fmt: str = "json", **params):
    params = {"v": "1.16.1", "c": "tests", **({"f": fmt} if fmt else {}), **params}
    if post:
        response = client.post(f"/rest/{method}", data=params)
    else:
        response = client.get(f"/rest/{method}", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    if fmt == "json":
        return response.get_json()["subsonic-response"]
    return response


def as_alice(keys) -> dict[str, str]:
    return {"u": "alice", "p": keys["password"]}


def error_code(body) -> int | None:
    return body.get("error", {}).get("code") if body["status"] == "failed" else None


# --- auth ---------------------------------------------------------------------------------------


def test_every_credential_form(client, keys):
    password = keys["password"]
    salt = "a1b2c3d4"
    token = hashlib.md5((password + salt).encode(), usedforsecurity=False).hexdigest()
    forms = [
        {"u": "alice", "p": password},
        {"u": "ALICE", "p": "enc:" + password.encode().hex()},
        {"u": "alice", "t": token, "s": salt},
        {"apiKey": keys["api_key"]},
    ]
    for params in forms:
        for post in (False, True):
            for method in ("ping", "ping.view"):
                body = api(client, method, post=post, **params)
                assert body["status"] == "ok", (params, post, body)
                assert body["openSubsonic"] is True and body["version"] == "1.16.1"
                assert body["type"] == "musiccloud" and "serverVersion" in body


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, 10),
        ({"u": "alice"}, 10),
        ({"p": "x"}, 10),
        ({"u": "alice", "t": "abc"}, 10),
        ({"u": "alice", "s": "abc"}, 10),
        ({"u": "alice", "p": "correct horse battery"}, 40),  # the web password: never
        ({"u": "alice", "p": "wrong"}, 40),
        ({"u": "alice", "p": "enc:zz"}, 40),
        ({"u": "nobody", "p": "wrong"}, 40),
        ({"u": "alice", "t": "0" * 32, "s": "salt"}, 40),
        ({"u": "alice", "p": "x", "t": "0" * 32, "s": "salt"}, 43),
        ({"apiKey": "mc_not-a-key"}, 44),
        ({"apiKey": "KEY", "u": "alice"}, 43),
    ],
)
def test_wrong_combinations(client, keys, params, code):
    if params.get("apiKey") == "KEY":
        params = {**params, "apiKey": keys["api_key"]}
    body = api(client, "ping", **params)
    assert body["status"] == "failed" and error_code(body) == code, body


def test_revoked_and_disabled(client, keys, db):
    user = keys["user"]
    assert api(client, "ping", **as_alice(keys))["status"] == "ok"
    assert credentials.app_passwords(user.id)[0].last_client == "tests"
    accounts.set_disabled(user, True)
    commit()
    assert error_code(api(client, "ping", **as_alice(keys))) == 40
    assert error_code(api(client, "ping", apiKey=keys["api_key"])) == 44
    accounts.set_disabled(user, False)
    credentials.revoke_all(user.id)
    commit()
    assert error_code(api(client, "ping", **as_alice(keys))) == 40
    assert error_code(api(client, "ping", apiKey=keys["api_key"])) == 44


def test_failed_sign_ins_count_against_the_login_limit(make_app, make_user):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_LIMIT_PER_IP="100 per minute", LOGIN_LIMIT_PER_USERNAME="3 per minute")
    with app.app_context():
        user = make_user("alice")
        _row, password = credentials.create_app_password(user.id, "Phone")
        commit()
        client = app.test_client()
        for _ in range(3):
            assert error_code(api(client, "ping", u="alice", p="wrong")) == 40
        # Now even the right password waits, through the API and the login form alike.
        assert error_code(api(client, "ping", u="alice", p=password)) == 0
        from tests.helpers import login

        assert login(app.test_client(), "alice").status_code == 429


def test_no_csrf_and_no_cookie(client, keys):
    response = client.post("/rest/ping.view", data={**as_alice(keys), "f": "json"})
    assert response.get_json()["subsonic-response"]["status"] == "ok"
    assert "Set-Cookie" not in response.headers


def test_extensions_need_no_auth_and_jsonp_is_refused(client, keys):
    body = api(client, "getOpenSubsonicExtensions")
    names = {e["name"] for e in body["openSubsonicExtensions"]}
    assert {"apiKeyAuthentication", "formPost"} <= names
    response = client.get("/rest/ping", query_string={**as_alice(keys), "f": "jsonp", "callback": "x"})
    assert response.status_code == 200
    body = response.get_json()["subsonic-response"]
    assert body["status"] == "failed" and "JSONP" in body["error"]["message"]


# --- XML and JSON -------------------------------------------------------------------------------


def _xml_to_data(element: ET.Element):
    data = dict(element.attrib)
    for child in element:
        data.setdefault(child.tag.replace(NS, ""), []).append(_xml_to_data(child))
    if element.text and element.text.strip():
        data["value"] = element.text
    return data


def _json_like(data):
    """JSON values as XML shows them: text, lists everywhere."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if isinstance(value, list):
                out[key] = [_json_like(v) if isinstance(v, dict) else {"value": str(v)} for v in value]
            elif isinstance(value, dict):
                out[key] = [_json_like(value)]
            elif isinstance(value, bool):
                out[key] = "true" if value else "false"
            else:
                out[key] = str(value)
        return {k: v for k, v in out.items() if v != []}
    return data


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("ping", {}),
        ("getLicense", {}),
        ("getUser", {"username": "alice"}),
        ("getMusicFolders", {}),
        ("getArtists", {}),
        ("getGenres", {}),
        ("getAlbumList2", {"type": "alphabeticalByName"}),
        ("search3", {"query": ""}),
        ("getPlaylists", {}),
        ("getStarred2", {}),
        ("getOpenSubsonicExtensions", {}),
        ("getScanStatus", {}),
        ("getPodcasts", {}),
        ("getIndexes", {}),
        ("getAlbumList", {"type": "newest"}),
        ("search2", {"query": ""}),
    ],
)
def test_xml_and_json_say_the_same(client, keys, method, extra):
    body = api(client, method, **as_alice(keys), **extra)
    response = api(client, method, fmt="", **as_alice(keys), **extra)
    assert response.content_type.startswith("text/xml")
    root = ET.fromstring(response.data)  # noqa: S314 - our own server's answer, in a test
    assert root.tag == NS + "subsonic-response"
    assert root.attrib["openSubsonic"] == "true" and root.attrib["status"] == "ok"
    assert _xml_to_data(root) == _json_like(body)


# --- visibility and hostile input --------------------------------------------------------------


def test_another_users_private_track_is_70_everywhere(client, keys):
    alice = as_alice(keys)
    hidden = str(keys["bobs_private"])
    for method, params in [
        ("getSong", {"id": hidden}),
        ("stream", {"id": hidden}),
        ("download", {"id": hidden}),
        ("getCoverArt", {"id": hidden}),
        ("scrobble", {"id": hidden}),
        ("star", {"id": hidden}),
    ]:
        body = api(client, method, **alice, **params)
        assert error_code(body) == 70, (method, body)
    # Bob's public track is there for alice.
    assert api(client, "getSong", **alice, id=str(keys["bobs_public"]))["song"]["title"]
    listing = api(client, "search3", **alice, query="", songCount=100)
    ids = {s["id"] for s in listing["searchResult3"]["song"]}
    assert ids == {str(keys["mine"]), str(keys["bobs_public"])}
    body = api(client, "createPlaylist", **alice, name="Sneaky", songId=hidden)
    assert error_code(body) == 70


@pytest.mark.parametrize(
    "value", ["../../etc/passwd", "0", "-1", "99999999999", "\uff11", "al-../x", "ar-", "", "%00", "12abc", "9" * 5000]
)
def test_hostile_ids_never_500(client, keys, value):
    alice = as_alice(keys)
    for method in ("getSong", "getAlbum", "getArtist", "stream", "download", "getCoverArt", "getPlaylist"):
        body = api(client, method, **alice, id=value)
        assert error_code(body) in (10, 70), (method, value, body)


def test_numbers_are_bounded(client, keys):
    alice = as_alice(keys)
    body = api(client, "getCoverArt", fmt="", **alice, id=str(keys["mine"]), size="99999999999")
    assert body.status_code == 200
    assert error_code(api(client, "getRandomSongs", **alice, size="lots")) == 0
    assert len(api(client, "getRandomSongs", **alice, size="999999")["randomSongs"]["song"]) == 2
    assert error_code(api(client, "getAlbumList2", **alice, type="nonsense")) == 0
    assert error_code(api(client, "noSuchMethod", **alice)) == 70


def test_logs_never_hold_credentials(app, client, keys, caplog):
    password, api_key = keys["password"], keys["api_key"]
    salt = "s4lt"
    token = hashlib.md5((password + salt).encode(), usedforsecurity=False).hexdigest()
    with caplog.at_level(logging.DEBUG):
        app.logger.warning("request %s", f"/rest/ping?u=alice&p={password}&t={token}&s={salt}&apiKey={api_key}")
        for params in ({"u": "alice", "p": password}, {"u": "alice", "t": token, "s": salt}, {"apiKey": api_key}):
            api(client, "ping", **params)
            api(client, "getSong", **params, id="../../etc/passwd")
        api(client, "ping", u="alice", p=password + "x")
    text = caplog.text
    for secret in (password, token, api_key):
        assert secret not in text


# --- the library through the API ---------------------------------------------------------------


def test_browse_album_artist_song(client, keys):
    alice = as_alice(keys)
    artists = api(client, "getArtists", **alice)["artists"]
    names = [a["name"] for idx in artists["index"] for a in idx["artist"]]
    assert names
    first = artists["index"][0]["artist"][0]
    artist = api(client, "getArtist", **alice, id=first["id"])["artist"]
    assert artist["album"]
    album = api(client, "getAlbum", **alice, id=artist["album"][0]["id"])["album"]
    assert album["song"] and album["songCount"] == len(album["song"])
    song = album["song"][0]
    assert api(client, "getSong", **alice, id=song["id"])["song"]["title"] == song["title"]
    for kind in (
        "random",
        "newest",
        "highest",
        "frequent",
        "recent",
        "alphabeticalByName",
        "alphabeticalByArtist",
        "starred",
    ):
        assert api(client, "getAlbumList2", **alice, type=kind)["status"] == "ok"
        assert api(client, "getAlbumList", **alice, type=kind)["status"] == "ok"
    assert api(client, "getAlbumList2", **alice, type="byYear", fromYear="1900", toYear="2100")["status"] == "ok"
    assert api(client, "getAlbumList2", **alice, type="byGenre", genre="Rock")["status"] == "ok"
    assert error_code(api(client, "getAlbumList2", **alice, type="byGenre")) == 10


def test_folder_view(client, keys, db):
    alice = as_alice(keys)
    indexes = api(client, "getIndexes", **alice)["indexes"]
    assert indexes["lastModified"] > 0
    artist = indexes["index"][0]["artist"][0]
    folder = api(client, "getMusicDirectory", **alice, id=artist["id"])["directory"]
    assert folder["name"] == artist["name"] and folder["child"][0]["isDir"] is True
    album = api(client, "getMusicDirectory", **alice, id=folder["child"][0]["id"])["directory"]
    assert album["parent"] == artist["id"] and album["child"][0]["isDir"] is False
    assert error_code(api(client, "getMusicDirectory", **alice, id=album["child"][0]["id"])) == 70
    hidden_album = "al-" + str(db.session.get(Track, keys["bobs_private"]).album_id)
    assert error_code(api(client, "getMusicDirectory", **alice, id=hidden_album)) == 70


def test_stream_ranges_like_the_stream_page(client, keys):
    alice = as_alice(keys)
    whole = client.get("/rest/stream", query_string={**alice, "id": keys["mine"]})
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    part = client.get("/rest/stream.view", query_string={**alice, "id": keys["mine"]}, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == whole.data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(whole.data)}"
    posted = client.post("/rest/stream", data={**alice, "id": keys["mine"]}, headers={"Range": "bytes=10-19"})
    assert posted.status_code == 206 and posted.data == whole.data[10:20]
    beyond = client.get("/rest/stream", query_string={**alice, "id": keys["mine"]}, headers={"Range": "bytes=999999-"})
    assert beyond.status_code == 416
    download = client.get("/rest/download", query_string={**alice, "id": keys["mine"]})
    assert download.data == whole.data and "attachment" in download.headers["Content-Disposition"]


def test_scrobble_star_and_playlists(client, keys, db):
    from app.services import listening

    alice = as_alice(keys)
    mine, public = str(keys["mine"]), str(keys["bobs_public"])
    assert api(client, "scrobble", **alice, id=mine, submission="false")["status"] == "ok"
    assert listening.play_count(keys["user"].id, keys["mine"]) == 0
    assert api(client, "scrobble", **alice, id=mine)["status"] == "ok"
    assert listening.play_count(keys["user"].id, keys["mine"]) == 1
    assert api(client, "star", **alice, id=mine)["status"] == "ok"
    starred = api(client, "getStarred2", **alice)["starred2"]["song"]
    assert [s["id"] for s in starred] == [mine] and starred[0]["starred"]
    assert api(client, "unstar", **alice, id=mine)["status"] == "ok"
    assert api(client, "getStarred", **alice)["starred"].get("song", []) == []

    # Albums and artists: by albumId/artistId, or by their ids in `id`.
    song = api(client, "getSong", **alice, id=mine)["song"]
    album_id, artist_id = song["albumId"], song["artistId"]
    assert api(client, "star", **alice, albumId=album_id, id=artist_id)["status"] == "ok"
    starred = api(client, "getStarred2", **alice)["starred2"]
    assert [a["id"] for a in starred["album"]] == [album_id] and starred["album"][0]["starred"]
    assert [a["id"] for a in starred["artist"]] == [artist_id]
    assert [a["id"] for a in api(client, "getAlbumList2", **alice, type="starred")["albumList2"]["album"]] == [album_id]
    assert api(client, "getAlbum", **alice, id=album_id)["album"]["starred"]
    assert api(client, "unstar", **alice, albumId=album_id, artistId=artist_id)["status"] == "ok"
    starred = api(client, "getStarred", **alice)["starred"]
    assert starred.get("album", []) == [] and starred.get("artist", []) == []
    # Bob's private album is not there for alice to star.
    hidden_album = "al-" + str(db.session.get(Track, keys["bobs_private"]).album_id)
    assert error_code(api(client, "star", **alice, albumId=hidden_album)) == 70

    created = api(client, "createPlaylist", post=True, **alice, name="Road", songId=[mine, public, mine])
    playlist = created["playlist"]
    assert playlist["songCount"] == 3 and [e["id"] for e in playlist["entry"]] == [mine, public, mine]
    pid = playlist["id"]
    body = api(
        client,
        "updatePlaylist",
        **alice,
        playlistId=pid,
        name="Trip",
        comment="Summer",
        public="true",
        songIndexToRemove=["0", "2"],
        songIdToAdd=public,
    )
    assert body["status"] == "ok"
    got = api(client, "getPlaylist", **alice, id=pid)["playlist"]
    assert got["name"] == "Trip" and got["comment"] == "Summer" and got["public"] is True
    assert [e["id"] for e in got["entry"]] == [public, public]
    assert [p["name"] for p in api(client, "getPlaylists", **alice)["playlists"]["playlist"]] == ["Trip"]
    # Bob sees it (public) but may not change or delete it.
    bob = {"u": "bob", "p": keys["bob_password"]}
    assert api(client, "getPlaylist", **bob, id=pid)["status"] == "ok"
    assert error_code(api(client, "deletePlaylist", **bob, id=pid)) == 50
    assert error_code(api(client, "updatePlaylist", **bob, playlistId=pid, name="Mine")) == 50
    assert api(client, "deletePlaylist", **alice, id=pid)["status"] == "ok"
    assert error_code(api(client, "getPlaylist", **alice, id=pid)) == 70


def test_info_top_and_similar_from_our_own_data(client, keys):
    alice = as_alice(keys)
    song = api(client, "getSong", **alice, id=str(keys["mine"]))["song"]
    assert api(client, "getArtistInfo2", **alice, id=song["artistId"])["status"] == "ok"
    assert api(client, "getArtistInfo", **alice, id=song["artistId"])["status"] == "ok"
    assert api(client, "getAlbumInfo2", **alice, id=song["albumId"])["status"] == "ok"
    top = api(client, "getTopSongs", **alice, artist=song["artist"])["topSongs"]["song"]
    assert song["id"] in [s["id"] for s in top]
    similar = api(client, "getSimilarSongs2", **alice, id=song["id"])["similarSongs2"]
    assert song["id"] not in [s["id"] for s in similar.get("song", [])]
    assert api(client, "getLyricsBySongId", **alice, id=song["id"])["status"] == "ok"
    hidden = str(keys["bobs_private"])
    assert error_code(api(client, "getSimilarSongs2", **alice, id=hidden)) == 70
    assert error_code(api(client, "getLyricsBySongId", **alice, id=hidden)) == 70
    assert api(client, "getTopSongs", **alice, artist="Nobody At All")["topSongs"].get("song", []) == []


def test_user_and_empty_answers(client, keys):
    alice = as_alice(keys)
    user = api(client, "getUser", **alice, username="alice")["user"]
    assert user["username"] == "alice" and user["adminRole"] is False and user["streamRole"] is True
    assert error_code(api(client, "getUser", **alice, username="admin")) == 50
    assert api(client, "tokenInfo", apiKey=keys["api_key"])["tokenInfo"]["username"] == "alice"
    for method in ("getPodcasts", "getInternetRadioStations", "getBookmarks", "getChatMessages", "getNowPlaying"):
        assert api(client, method, **alice)["status"] == "ok"


def test_search3_empty_query_pages_to_the_end(client, keys):
    alice = as_alice(keys)
    seen = []
    offset = 0
    while True:
        page = api(client, "search3", **alice, query='""', songCount=1, songOffset=offset, artistCount=0, albumCount=0)
        songs = page["searchResult3"].get("song", [])
        if not songs:
            break
        seen += [s["id"] for s in songs]
        offset += 1
    assert sorted(seen) == sorted([str(keys["mine"]), str(keys["bobs_public"])])


def test_every_method_answers_hostile_parameters_with_an_envelope(client, keys):
    """No parameters, then every usual parameter hostile: always the Subsonic envelope, never a 500."""
    from app.subsonic.routes import METHODS

    alice = as_alice(keys)
    hostile = "../../etc/passwd"
    names = ["id", "albumId", "artistId", "playlistId", "songId", "songIdToAdd", "songIndexToRemove", "type"]
    names += ["genre", "query", "size", "count", "offset", "fromYear", "toYear", "username", "artist", "name"]
    for name in sorted(METHODS):
        for params in ({}, dict.fromkeys(names, hostile), dict.fromkeys(names, "9" * 40)):
            response = client.get(f"/rest/{name}", query_string={**alice, "f": "json", **params})
            assert response.status_code == 200, (name, params, response.status_code)
            if response.is_json:
                body = response.get_json()["subsonic-response"]
                assert body["status"] in ("ok", "failed"), (name, body)
                # Refused for a reason, never by the catch-all for an unexpected failure.
                assert body.get("error", {}).get("message") != "The server could not answer that request.", name


def test_now_playing_is_the_callers_own(client, keys):
    alice, bob = as_alice(keys), {"u": "bob", "p": keys["bob_password"]}
    mine = str(keys["mine"])
    assert api(client, "getNowPlaying", **alice)["nowPlaying"].get("entry", []) == []
    assert api(client, "scrobble", **alice, id=mine, submission="false")["status"] == "ok"
    entries = api(client, "getNowPlaying", **alice)["nowPlaying"]["entry"]
    assert [(e["id"], e["username"], e["minutesAgo"], e["playerName"]) for e in entries] == [
        (mine, "alice", 0, "tests")
    ]
    assert api(client, "getNowPlaying", **bob)["nowPlaying"].get("entry", []) == []
    assert error_code(api(client, "scrobble", **alice, id=str(keys["bobs_private"]), submission="false")) == 70


def test_starting_a_stream_is_now_playing_and_a_seek_is_not(client, keys):
    """For the apps that never scrobble (Mopidy-Subidy): the request that starts a
    track shows it playing; a seek, a HEAD or a bounded range changes nothing."""
    alice = as_alice(keys)
    mine, public = str(keys["mine"]), str(keys["bobs_public"])

    def playing() -> list[str]:
        return [e["id"] for e in api(client, "getNowPlaying", **alice)["nowPlaying"].get("entry", [])]

    def stream(track: str, method: str = "GET", **headers: str) -> None:
        query = {"v": "1.16.1", "c": "Player", **alice, "id": track}
        assert client.open("/rest/stream", method=method, query_string=query, headers=headers).status_code in (200, 206)

    stream(public, "HEAD")
    stream(public, Range="bytes=0-99")
    assert playing() == []
    stream(mine)
    assert playing() == [mine]
    stream(public, Range="bytes=100-")
    assert playing() == [mine]
    stream(public, Range="bytes=0-")
    entries = api(client, "getNowPlaying", **alice)["nowPlaying"]["entry"]
    assert [(e["id"], e["playerName"]) for e in entries] == [(public, "Player")]
    # Starting a track is no listen: that stays what a scrobble reports.
    assert api(client, "getSong", **alice, id=public)["song"].get("playCount", 0) == 0


def test_play_queue_is_saved_and_picked_up_elsewhere(client, keys):
    alice, bob = as_alice(keys), {"u": "bob", "p": keys["bob_password"]}
    mine, public = str(keys["mine"]), str(keys["bobs_public"])
    assert "playQueue" not in api(client, "getPlayQueue", **alice)
    body = api(client, "savePlayQueue", post=True, **alice, id=[mine, public, mine], current=public, position="61500")
    assert body["status"] == "ok"
    queue = api(client, "getPlayQueue", **{**alice, "c": "other device"})["playQueue"]
    assert [e["id"] for e in queue["entry"]] == [mine, public, mine]
    assert queue["current"] == public and queue["position"] == 61500 and queue["changedBy"] == "tests"
    assert (
        api(client, "savePlayQueueByIndex", **alice, id=[mine, public, mine], currentIndex="2", position="5")["status"]
        == "ok"
    )
    by_index = api(client, "getPlayQueueByIndex", **alice)["playQueueByIndex"]
    assert by_index["currentIndex"] == 2 and by_index["position"] == 5
    # Nobody else's queue, nobody else's private track, an index inside the queue.
    assert "playQueue" not in api(client, "getPlayQueue", **bob)
    assert error_code(api(client, "savePlayQueue", **alice, id=str(keys["bobs_private"]))) == 70
    assert error_code(api(client, "savePlayQueueByIndex", **alice, id=mine, currentIndex="3")) == 0
    assert error_code(api(client, "savePlayQueue", **alice, id=mine, current=public)) == 0
    # An empty save clears it.
    assert api(client, "savePlayQueue", **alice)["status"] == "ok"
    assert "playQueue" not in api(client, "getPlayQueue", **alice)


def test_ratings(client, keys, db):
    alice = as_alice(keys)
    mine = str(keys["mine"])
    song = api(client, "getSong", **alice, id=mine)["song"]
    assert "userRating" not in song
    for item, rating in ((mine, "4"), (song["albumId"], "5"), (song["artistId"], "3")):
        assert api(client, "setRating", **alice, id=item, rating=rating)["status"] == "ok"
    assert api(client, "getSong", **alice, id=mine)["song"]["userRating"] == 4
    album = api(client, "getAlbum", **alice, id=song["albumId"])["album"]
    assert album["userRating"] == 5 and album["song"][0]["userRating"] == 4
    highest = api(client, "getAlbumList2", **alice, type="highest")["albumList2"]["album"]
    assert [a["id"] for a in highest] == [song["albumId"]]
    assert api(client, "setRating", **alice, id=mine, rating="0")["status"] == "ok"
    assert "userRating" not in api(client, "getSong", **alice, id=mine)["song"]
    assert error_code(api(client, "setRating", **alice, id=mine, rating="9")) == 0
    assert error_code(api(client, "setRating", **alice, id=mine)) == 10
    assert error_code(api(client, "setRating", **alice, id=str(keys["bobs_private"]), rating="1")) == 70
    # Bob's ratings are his own.
    bob = {"u": "bob", "p": keys["bob_password"]}
    assert api(client, "getAlbumList2", **bob, type="highest")["albumList2"].get("album", []) == []


def test_album_list_orders(client, keys, tmp_path):
    from tests import hostile

    alice = as_alice(keys)
    content = hostile.mp3_with_tags(tmp_path / "other.mp3", title="Other Tone", artist="Zed", album="Zeta")
    newer = add_track(keys["bob"], "other.mp3", content=content, visibility=Visibility.PUBLIC)
    mine = api(client, "getSong", **alice, id=str(keys["mine"]))["song"]["albumId"]
    public = api(client, "getSong", **alice, id=str(newer.id))["song"]["albumId"]
    assert mine != public

    def order(kind: str, **extra: str) -> list[str]:
        return [
            a["id"] for a in api(client, "getAlbumList2", **alice, type=kind, **extra)["albumList2"].get("album", [])
        ]

    assert order("newest") == [public, mine]  # bob's public track was added last
    assert order("frequent") == [] and order("recent") == []
    api(client, "scrobble", **alice, id=str(newer.id))
    api(client, "scrobble", **alice, id=str(keys["mine"]))
    assert order("recent") == [mine, public]
    assert set(order("frequent")) == {mine, public}
    assert sorted(order("random")) == sorted([mine, public])
    assert order("newest", size="1", offset="1") == [mine]
    assert set(order("alphabeticalByName")) == set(order("alphabeticalByArtist")) == {mine, public}
