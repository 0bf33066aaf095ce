"""Subsonic shares over our playlists' share links: create, list, update,
delete; the links play on the public share page; only the owner sees them."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

from app.models import Playlist, PlaylistVisibility
from tests.test_subsonic import NS, _json_like, _xml_to_data, api, as_alice, error_code, keys

__all__ = ["keys"]  # a fixture, used by name


def _path(url: str) -> str:
    assert url.startswith("http://localhost/s/")
    return url.removeprefix("http://localhost")


def test_share_songs_list_update_and_delete(client, keys, db):
    alice = as_alice(keys)
    assert api(client, "getShares", **alice)["shares"].get("share", []) == []
    later = int((time.time() + 86400) * 1000)
    body = api(
        client,
        "createShare",
        post=True,
        **alice,
        id=[str(keys["mine"]), str(keys["bobs_public"])],
        description="For Sam",
        expires=str(later),
    )
    share = body["shares"]["share"][0]
    assert share["description"] == "For Sam" and share["username"] == "alice"
    assert [e["id"] for e in share["entry"]] == [str(keys["mine"]), str(keys["bobs_public"])]
    assert share["expires"].endswith("Z") and share["visitCount"] == 0
    row = db.session.get(Playlist, int(share["id"]))
    assert row.visibility == PlaylistVisibility.LINK and row.owner_id == keys["user"].id
    # The URL is the public share page, playable without an account.
    page = client.get(_path(share["url"]))
    assert page.status_code == 200 and b"For Sam" in page.data

    listed = api(client, "getShares", **alice)["shares"]["share"]
    assert [s["id"] for s in listed] == [share["id"]]
    assert error_code(api(client, "updateShare", **alice, id=share["id"], description="For Kim", expires="0")) is None
    listed = api(client, "getShares", **alice)["shares"]["share"][0]
    assert listed["description"] == "For Kim" and "expires" not in listed
    assert error_code(api(client, "updateShare", **alice, id=share["id"], expires="1000")) == 0

    assert error_code(api(client, "deleteShare", **alice, id=share["id"])) is None
    assert client.get(_path(share["url"])).status_code == 404
    assert api(client, "getShares", **alice)["shares"].get("share", []) == []
    db.session.expire_all()
    assert db.session.get(Playlist, int(share["id"])).visibility == PlaylistVisibility.PRIVATE


def test_share_an_album_in_xml(client, keys):
    alice = as_alice(keys)
    album = api(client, "getSong", **alice, id=str(keys["mine"]))["song"]["albumId"]
    response = api(client, "createShare", fmt="", **alice, id=album)
    root = ET.fromstring(response.data)  # noqa: S314 - our own server's answer, in a test
    share = root.find(f"{NS}shares/{NS}share")
    assert share is not None and share.attrib["url"].startswith("http://localhost/s/")
    songs = [s["id"] for s in api(client, "getAlbum", **alice, id=album)["album"]["song"]]
    assert [e.attrib["id"] for e in share.findall(f"{NS}entry")] == songs
    listed = ET.fromstring(api(client, "getShares", fmt="", **alice).data)  # noqa: S314 - as above
    assert [s.attrib["id"] for s in listed.iter(f"{NS}share")] == [share.attrib["id"]]


def test_only_the_owner_sees_and_changes_a_share(client, keys):
    alice, bob = as_alice(keys), {"u": "bob", "p": keys["bob_password"]}
    # Bob's private track cannot be shared by alice.
    assert error_code(api(client, "createShare", **alice, id=str(keys["bobs_private"]))) == 70
    share = api(client, "createShare", **bob, id=str(keys["bobs_private"]))["shares"]["share"][0]
    assert api(client, "getShares", **alice)["shares"].get("share", []) == []
    for method, extra in [("updateShare", {"description": "mine now"}), ("deleteShare", {})]:
        assert error_code(api(client, method, **alice, id=share["id"], **extra)) == 70
    assert api(client, "getShares", **bob)["shares"]["share"][0]["description"] == share["description"]
    # Only link-shared playlists are shares; an artist cannot be shared; hostile ids never 500.
    plain = api(client, "createPlaylist", **alice, name="Mine")["playlist"]["id"]
    for method in ("updateShare", "deleteShare"):
        assert error_code(api(client, method, **alice, id=plain)) == 70
        assert error_code(api(client, method, **alice, id="../../etc/passwd")) == 70
    assert error_code(api(client, "createShare", **alice, id="ar-1")) == 70
    assert error_code(api(client, "createShare", **alice)) == 10
    assert error_code(api(client, "createShare", **alice, id=str(keys["mine"]), expires="soon")) == 0


def test_shares_say_the_same_in_xml_and_json(client, keys):
    alice = as_alice(keys)
    api(client, "createShare", **alice, id=str(keys["mine"]), description="Both", expires=str(2**41))
    body = api(client, "getShares", **alice)
    root = ET.fromstring(api(client, "getShares", fmt="", **alice).data)  # noqa: S314 - our own answer, in a test
    assert _xml_to_data(root) == _json_like(body)
