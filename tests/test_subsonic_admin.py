"""The Subsonic API's account methods (admins only; changePassword never for
one's own account) and the scan (our library check): user versus admin, XML and JSON."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.models import Job, JobState, Role
from app.services import accounts, credentials, jobs
from app.unit_of_work import commit
from tests.helpers import PASSWORD
from tests.test_subsonic import NS, _json_like, _xml_to_data, api, as_alice, error_code, keys

__all__ = ["keys"]  # a fixture, used by name

NEW_PASSWORD = "a new web password"


@pytest.fixture
def boss(keys, admin) -> dict[str, str]:
    _row, password = credentials.create_app_password(admin.id, "Phone")
    commit()
    return {"u": "admin", "p": password}


def _web_password_works(username: str, password: str) -> bool:
    try:
        accounts.authenticate(username, password, rounds=4)
    except accounts.InvalidCredentials:
        return False
    return True


def test_users_need_an_admin(client, keys, boss):
    alice = as_alice(keys)
    for method, params in [
        ("getUsers", {}),
        ("getUser", {"username": "bob"}),
        ("createUser", {"username": "carol", "password": NEW_PASSWORD, "email": "c@example.org"}),
        ("updateUser", {"username": "bob", "adminRole": "true"}),
        ("deleteUser", {"username": "bob"}),
        ("changePassword", {"username": "bob", "password": NEW_PASSWORD}),
        ("startScan", {}),
    ]:
        assert error_code(api(client, method, **alice, **params)) == 50, method
    assert accounts.find_by_username("carol") is None
    assert accounts.find_by_username("bob").role == Role.USER
    assert _web_password_works("bob", PASSWORD)
    assert not jobs.latest(jobs.VERIFY_LIBRARY)


def test_admin_lists_creates_updates_and_deletes(client, keys, boss, db):
    listed = api(client, "getUsers", **boss)["users"]["user"]
    assert [u["username"] for u in listed] == ["admin", "alice", "bob"]
    assert listed[0]["adminRole"] is True and listed[1]["adminRole"] is False
    assert api(client, "getUser", **boss, username="bob")["user"]["uploadRole"] is True

    body = api(
        client,
        "createUser",
        post=True,
        **boss,
        username="carol",
        password="enc:" + NEW_PASSWORD.encode().hex(),
        email="c@example.org",
    )
    assert error_code(body) is None
    assert accounts.find_by_username("carol").role == Role.LISTENER  # no uploadRole asked: plays only
    assert _web_password_works("carol", NEW_PASSWORD)
    assert error_code(api(client, "createUser", **boss, username="carol", password=NEW_PASSWORD)) == 0
    assert error_code(api(client, "createUser", **boss, username="dave", password="short")) == 0
    assert error_code(api(client, "createUser", **boss, username="dave")) == 10

    assert error_code(api(client, "updateUser", **boss, username="carol", uploadRole="true")) is None
    assert accounts.find_by_username("carol").role == Role.USER
    assert error_code(api(client, "updateUser", **boss, username="carol", adminRole="true")) is None
    assert accounts.find_by_username("carol").role == Role.ADMIN
    assert error_code(api(client, "updateUser", **boss, username="carol", password="tiny")) == 0
    assert error_code(api(client, "updateUser", **boss, username="nobody", adminRole="true")) == 70
    # The last admin stays an admin.
    assert error_code(api(client, "deleteUser", **boss, username="carol")) is None
    assert accounts.find_by_username("carol") is None
    assert error_code(api(client, "updateUser", **boss, username="admin", adminRole="false")) == 0
    assert error_code(api(client, "deleteUser", **boss, username="admin")) == 0
    assert error_code(api(client, "deleteUser", **boss, username="nobody")) == 70

    assert error_code(api(client, "changePassword", **boss, username="bob", password=NEW_PASSWORD)) is None
    assert _web_password_works("bob", NEW_PASSWORD) and not _web_password_works("bob", PASSWORD)


def test_users_in_xml(client, keys, boss):
    root = ET.fromstring(api(client, "getUsers", fmt="", **boss).data)  # noqa: S314 - our own answer, in a test
    assert [u.attrib["username"] for u in root.iter(f"{NS}user")] == ["admin", "alice", "bob"]


def test_an_app_password_never_changes_its_own_accounts_web_password(client, keys, boss):
    # A stolen phone must not be able to lock its owner out of the web.
    alice = as_alice(keys)
    for who, name in ((alice, "alice"), (alice, "ALICE"), (boss, "admin")):
        body = api(client, "changePassword", post=True, **who, username=name, password=NEW_PASSWORD)
        assert error_code(body) == 50
    assert _web_password_works("alice", PASSWORD) and not _web_password_works("alice", NEW_PASSWORD)
    assert error_code(api(client, "changePassword", **alice, username="bob", password=NEW_PASSWORD)) == 50
    assert _web_password_works("bob", PASSWORD)
    assert api(client, "ping", **alice)["status"] == "ok"


def test_scan_is_the_library_check(client, keys, boss, db):
    alice = as_alice(keys)
    assert api(client, "getScanStatus", **alice)["scanStatus"] == {"scanning": False, "count": 2}
    body = api(client, "startScan", **boss)
    assert body["scanStatus"]["scanning"] is True
    job = jobs.latest(jobs.VERIFY_LIBRARY)
    assert isinstance(job, Job) and job.args == [False, False]
    # Tests run jobs at once: the check is done, and the status says so.
    assert job.state is JobState.DONE
    assert api(client, "getScanStatus", **boss)["scanStatus"]["scanning"] is False
    xml = ET.fromstring(api(client, "getScanStatus", fmt="", **alice).data)  # noqa: S314 - our own answer
    assert xml.find(f"{NS}scanStatus").attrib == {"scanning": "false", "count": "2"}


def test_users_say_the_same_in_xml_and_json(client, keys, boss):
    body = api(client, "getUsers", **boss)
    root = ET.fromstring(api(client, "getUsers", fmt="", **boss).data)  # noqa: S314 - our own answer, in a test
    assert _xml_to_data(root) == _json_like(body)
