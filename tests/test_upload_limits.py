"""Upload limits per role: the admin sets them, and every way music arrives (the form,
resumable uploads, ZIP archives, the REST API) refuses what goes past one with a message
naming it, keeping nothing; `flask import` holds only to the account's quota."""

from __future__ import annotations

import base64
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import ArchiveImport, ResumableUpload, Role, RoleLimits, Track
from app.services.library import quotas
from app.unit_of_work import commit
from tests import archives as zips
from tests.audio import synthesize
from tests.helpers import DATA, csrf_from, login, post_form

MP3 = (DATA / "tagged.mp3").read_bytes()  # 12,560 bytes, 3 s
FLAC = (DATA / "tagged.flac").read_bytes()  # 28,468 bytes, 3 s
TUS = {"Tus-Resumable": "1.0.0"}


def set_limits(role: Role = Role.USER, **given: int) -> None:
    values = dict.fromkeys(("max_file_bytes", "max_duration_seconds", "monthly_uploads", "storage_bytes"))
    quotas.set_role_limits(role, **{**values, **given})
    commit()


def restarts_on() -> str:
    """The first day of next month (UTC), as the English pages write it."""
    today = datetime.now(UTC).date()
    first = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return f"{first.strftime('%B')} 1, {first.year}"


def upload(client, files: list[tuple[bytes, str]], as_json: bool = True):
    token = csrf_from(client, "/library/upload")
    data = {"csrf_token": token, "files": [(io.BytesIO(content), name) for content, name in files]}
    headers = {"Accept": "application/json"} if as_json else {}
    return client.post("/library/upload", data=data, content_type="multipart/form-data", headers=headers)


def upload_one(client, content: bytes, name: str) -> dict:
    response = upload(client, [(content, name)])
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    [result] = response.get_json()["results"]
    return result


def api_upload(client, token: str, content: bytes, name: str):
    return client.post(
        "/api/v1/tracks",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {token}"},
    )


def api_token(user) -> str:
    from app.models import AccessScope
    from app.services import credentials

    _row, plain = credentials.create_access_token(user, "limits", AccessScope.WRITE)
    commit()
    return plain


def tus_create(client, name: str, length: int):
    token = csrf_from(client, "/library/upload")
    metadata = "filename " + base64.b64encode(name.encode()).decode()
    headers = {**TUS, "X-CSRFToken": token, "Upload-Length": str(length), "Upload-Metadata": metadata}
    return client.post("/library/uploads/", headers=headers), token


def tus_send(client, name: str, data: bytes) -> dict:
    created, token = tus_create(client, name, len(data))
    assert created.status_code == 201, created.get_data(as_text=True)
    url = created.headers["Location"]
    sent = {**TUS, "X-CSRFToken": token, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert client.patch(url, data=data, headers=sent).status_code == 204
    return client.get(url, headers=TUS).get_json()["result"]


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def tracks(db) -> int:
    return db.session.scalar(select(func.count(Track.id)))


@pytest.fixture
def uploads(app) -> Path:
    return Path(app.config["UPLOAD_FOLDER"])


@pytest.fixture
def long_track(tmp_path) -> bytes:
    """A real MP3 of 90 seconds (a tone), about 360 kB."""
    out = tmp_path / "long.mp3"
    synthesize("sine=frequency=440:duration=90:sample_rate=22050", out, "-b:a", "32k", "-ac", "1")
    return out.read_bytes()


def assert_nothing_kept(db, uploads: Path, user, count: int = 0) -> None:
    """Only the `count` tracks added stay: their rows and audio files, no temporary file, no
    unfinished upload."""
    db.session.expire_all()
    assert tracks(db) == count
    audio = [p for p in stored_files(uploads / str(user.id)) if not p.name.endswith(".waveform.json")]
    assert len(audio) == count
    assert [p for p in stored_files(uploads) if ".incoming" in p.parts or ".partial" in p.parts] == []
    assert db.session.scalar(select(func.count(ResumableUpload.id)).where(ResumableUpload.result.is_(None))) == 0


# --- the admin page -----------------------------------------------------------------------


@pytest.fixture
def admin_client(app, admin):
    client = app.test_client()
    login(client, "admin")
    return client


def post_limits(client, role: str, data: dict[str, str]):
    """The role's form on /admin/limits, as a browser sends it (its fields carry the role's prefix)."""
    token = csrf_from(client, "/admin/users")
    return client.post(f"/admin/limits/{role}", data={**data, f"{role}-csrf_token": token})


def test_the_admin_sets_each_roles_limits_in_mb_minutes_tracks_and_gb(admin_client, db):
    page = admin_client.get("/admin/limits").get_data(as_text=True)
    assert "Upload limits" in page and "Largest file (MB)" in page and "Storage (GB)" in page
    assert 'name="user-max_file_mb"' in page and 'name="admin-max_file_mb"' in page
    assert 'name="listener-' not in page  # listeners cannot upload
    form = {
        "user-max_file_mb": "200",
        "user-max_duration_minutes": "7.5",
        "user-monthly_uploads": "500",
        "user-storage_gb": "5",
    }
    response = post_limits(admin_client, "user", form)
    assert response.status_code == 302
    response = admin_client.get(response.headers["Location"])
    assert "The upload limits of the role User are saved." in response.get_data(as_text=True)
    row = db.session.get(RoleLimits, Role.USER)
    assert (row.max_file_bytes, row.max_duration_seconds, row.monthly_uploads, row.storage_bytes) == (
        200_000_000,
        450,
        500,
        5_000_000_000,
    )
    page = admin_client.get("/admin/limits").get_data(as_text=True)
    assert 'value="200"' in page and 'value="7.5"' in page and 'value="500"' in page and 'value="5"' in page
    assert db.session.get(RoleLimits, Role.ADMIN) is None  # the other role is untouched: unlimited

    # Emptied again: no limit.
    empty = dict.fromkeys(form, "")
    assert post_limits(admin_client, "user", empty).status_code == 302
    db.session.expire_all()
    row = db.session.get(RoleLimits, Role.USER)
    assert (row.max_file_bytes, row.max_duration_seconds, row.monthly_uploads, row.storage_bytes) == (None,) * 4


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("user-max_file_mb", "0", "Give a number above zero, or leave it empty for no limit."),
        ("user-max_duration_minutes", "-3", "Give a number above zero, or leave it empty for no limit."),
        ("user-storage_gb", "NaN", "Give a number above zero, or leave it empty for no limit."),
        ("user-monthly_uploads", "2.5", "Not a valid integer value."),
        ("user-storage_gb", "lots", "Not a valid decimal value."),
        ("user-max_file_mb", "1e12", "Give at most 1,000,000,000 MB."),
    ],
)
def test_bad_limits_are_refused_and_change_nothing(admin_client, db, field, value, error):
    set_limits(monthly_uploads=10)
    form = {"user-monthly_uploads": "20", field: value}
    response = post_limits(admin_client, "user", form)
    assert response.status_code == 400
    assert error in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(RoleLimits, Role.USER).monthly_uploads == 10


def test_only_an_admin_sees_or_sets_the_limits(alice, admin_client, db):
    assert alice.get("/admin/limits").status_code == 403
    token = csrf_from(alice, "/library/upload")
    assert alice.post("/admin/limits/user", data={"csrf_token": token, "user-max_file_mb": "1"}).status_code == 403
    assert db.session.get(RoleLimits, Role.USER) is None
    assert post_limits(admin_client, "listener", {"listener-max_file_mb": "1"}).status_code == 404


# --- the upload form ----------------------------------------------------------------------


def test_the_form_refuses_a_file_larger_than_the_role_allows(alice, user, db, uploads):
    set_limits(max_file_bytes=20_000)
    result = upload_one(alice, FLAC, "big.flac")
    assert result["status"] == "rejected" and result["code"] == "UPLOAD_LIMIT_FILE_SIZE"
    assert result["message"] == "Files larger than 20 kB are not accepted for your role (this one is 28.5 kB)."
    page = upload(alice, [(FLAC, "big.flac")], as_json=False).get_data(as_text=True)
    assert "Files larger than 20 kB are not accepted for your role (this one is 28.5 kB)." in page
    assert upload_one(alice, MP3, "small.mp3")["status"] == "added"  # 12.6 kB fits
    assert_nothing_kept(db, uploads, user, count=1)


def test_the_monthly_count_stops_uploads_and_deleting_does_not_give_them_back(alice, user, db, uploads):
    set_limits(monthly_uploads=2)
    assert upload_one(alice, zips.mp3_variant("One"), "one.mp3")["status"] == "added"
    assert upload_one(alice, zips.mp3_variant("Two"), "two.mp3")["status"] == "added"
    third = upload_one(alice, zips.mp3_variant("Three"), "three.mp3")
    assert third["status"] == "rejected" and third["code"] == "UPLOAD_LIMIT_MONTHLY"
    assert third["message"] == (
        f"You have uploaded 2 tracks this month, the most your role allows; the count restarts on {restarts_on()}."
    )
    first = db.session.scalar(select(Track).where(Track.title == "One"))
    post_form(alice, f"/library/tracks/{first.id}", f"/library/tracks/{first.id}/delete")
    assert upload_one(alice, zips.mp3_variant("Three"), "three.mp3")["code"] == "UPLOAD_LIMIT_MONTHLY"
    assert_nothing_kept(db, uploads, user, count=1)
    # A new month starts the count again.
    db.session.refresh(user)
    user.month_started = date(2000, 1, 1)
    commit()
    assert upload_one(alice, zips.mp3_variant("Three"), "three.mp3")["status"] == "added"
    db.session.refresh(user)
    assert (user.month_uploads, user.month_started) == (1, quotas.month_start())


def test_the_admin_sees_an_accounts_uploads_this_month(alice, admin_client, user, db):
    assert upload_one(alice, MP3, "a.mp3")["status"] == "added"
    page = admin_client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert "<dt>Uploads this month</dt><dd>1</dd>" in page


def test_the_smaller_of_the_role_storage_and_the_account_quota_wins(alice, user, db, uploads):
    set_limits(storage_bytes=30_000)
    assert upload_one(alice, MP3, "a.mp3")["status"] == "added"  # 12.6 kB of 30 kB
    result = upload_one(alice, FLAC, "b.flac")
    assert result["code"] == "UPLOAD_LIMIT_STORAGE"
    assert result["message"] == "Your role allows 30 kB of storage: you use 12.6 kB, and this needs 28.5 kB more."
    user.quota_bytes = 20_000  # the account's own quota is smaller: it is the one named
    commit()
    result = upload_one(alice, FLAC, "b.flac")
    assert result["message"] == "storage quota exceeded: 12.6 kB of 20 kB used"
    user.quota_bytes = 90_000  # larger than the role's: the role's limit holds
    commit()
    assert upload_one(alice, FLAC, "b.flac")["code"] == "UPLOAD_LIMIT_STORAGE"
    assert_nothing_kept(db, uploads, user, count=1)


def test_an_admins_role_has_its_own_limits(app, admin, user, db):
    set_limits(Role.USER, max_file_bytes=1_000)
    client = app.test_client()
    login(client, "admin")
    assert upload_one(client, MP3, "a.mp3")["status"] == "added"  # the admin role is unlimited
    set_limits(Role.ADMIN, monthly_uploads=1)
    refused = upload_one(client, FLAC, "b.flac")
    assert refused["message"] == (
        f"You have uploaded 1 track this month, the most your role allows; the count restarts on {restarts_on()}."
    )


def test_two_uploads_at_once_cannot_both_take_the_last_of_the_month(app, alice, user, db, monkeypatch):
    """The second upload lands while the first one's tags are read (after its early check
    passed): exactly one is added, and the month's count is one."""
    from app.services.tags import ParserPool

    set_limits(monthly_uploads=1)
    second = app.test_client()
    login(second, "alice")
    parse = ParserPool.parse
    during: list[dict] = []

    def parse_while_another_upload_lands(pool, path, original_name):
        if original_name == "a.mp3":
            during.append(upload_one(second, FLAC, "b.flac"))
        return parse(pool, path, original_name)

    monkeypatch.setattr(ParserPool, "parse", parse_while_another_upload_lands)
    first = upload_one(alice, MP3, "a.mp3")
    assert during[0]["status"] == "added"
    assert first["code"] == "UPLOAD_LIMIT_MONTHLY"
    db.session.expire_all()
    assert tracks(db) == 1 and db.session.get(type(user), user.id).month_uploads == 1


# --- the upload page ------------------------------------------------------------------------


def test_the_upload_page_shows_the_limits_and_what_is_used(alice, user, db):
    page = alice.get("/library/upload").get_data(as_text=True)
    assert "Your limits" in page
    assert "<dt>Longest track</dt><dd>no limit</dd>" in page
    assert "<dt>Uploads this month</dt><dd>0 (no limit)</dd>" in page
    assert "<dt>Storage</dt><dd>0 bytes used (no limit)</dd>" in page
    set_limits(max_file_bytes=200_000_000, max_duration_seconds=1200, monthly_uploads=500, storage_bytes=5 * quotas.GB)
    assert upload_one(alice, MP3, "a.mp3")["status"] == "added"
    page = alice.get("/library/upload").get_data(as_text=True)
    assert "<dt>Largest file</dt><dd>200 MB</dd>" in page
    assert "up to 200 MB each" in page
    assert "<dt>Longest track</dt><dd>20 minutes</dd>" in page
    assert f"<dt>Uploads this month</dt><dd>1 of 500; the count restarts on {restarts_on()}</dd>" in page
    assert "<dt>Storage</dt><dd>12.6 kB used of 5 GB</dd>" in page


# --- resumable uploads ----------------------------------------------------------------------


def test_a_resumable_upload_is_refused_at_creation_from_its_declared_length(alice, user, db, uploads):
    set_limits(max_file_bytes=20_000, storage_bytes=30_000)
    created, _token = tus_create(alice, "big.flac", len(FLAC))
    assert created.status_code == 413
    assert created.get_json() == {
        "code": "UPLOAD_LIMIT_FILE_SIZE",
        "message": "Files larger than 20 kB are not accepted for your role (this one is 28.5 kB).",
    }
    assert tus_send(alice, "a.mp3", MP3)["status"] == "added"
    created, _token = tus_create(alice, "b.mp3", 19_000)
    assert created.status_code == 403
    assert created.get_json()["message"] == (
        "Your role allows 30 kB of storage: you use 12.6 kB, and this needs 19 kB more."
    )
    assert_nothing_kept(db, uploads, user, count=1)


def test_a_resumable_upload_over_the_monthly_count_is_refused_before_a_byte_even_for_an_archive(
    alice, user, db, uploads
):
    set_limits(monthly_uploads=1)
    assert tus_send(alice, "a.mp3", MP3)["status"] == "added"
    for name in ("b.flac", "music.zip"):
        created, _token = tus_create(alice, name, 50_000)
        assert created.status_code == 403 and created.get_json()["code"] == "UPLOAD_LIMIT_MONTHLY"
    assert_nothing_kept(db, uploads, user, count=1)


def test_a_resumable_upload_too_long_is_refused_once_its_tags_are_read(alice, user, db, uploads, long_track):
    set_limits(max_duration_seconds=60)
    result = tus_send(alice, "long.mp3", long_track)
    assert result["status"] == "rejected" and result["code"] == "UPLOAD_LIMIT_DURATION"
    assert result["message"] == "Tracks longer than 1 min are not accepted for your role (this one lasts 1.5 min)."
    assert_nothing_kept(db, uploads, user)
    assert user.month_uploads == 0


# --- ZIP archives ------------------------------------------------------------------------


def test_the_zip_preview_shows_what_would_pass_a_limit_and_the_import_keeps_to_them(alice, user, db, uploads):
    set_limits(max_file_bytes=20_000, monthly_uploads=2)
    data = zips.build(
        [
            ("Album/big.flac", FLAC),
            ("Album/01.mp3", zips.mp3_variant("First")),
            ("Album/02.mp3", zips.mp3_variant("Second")),
            ("Album/03.mp3", zips.mp3_variant("Third")),
        ]
    )
    token = csrf_from(alice, "/library/upload")
    response = alice.post(
        "/library/upload",
        data={"csrf_token": token, "files": [(io.BytesIO(data), "music.zip")]},
        content_type="multipart/form-data",
    )
    url = response.headers["Location"]
    page = alice.get(url).get_data(as_text=True)
    assert "Album/big.flac</bdi>: Files larger than 20 kB are not accepted for your role (this one is 28.5 kB)." in page
    assert "1 file would go past your limits (marked below) and is not ticked" in page
    monthly = (
        f"You have uploaded 2 tracks this month, the most your role allows; the count restarts on {restarts_on()}."
    )
    assert page.count(monthly) == 1
    third = page[page.index("Album/03.mp3") - 300 : page.index("Album/03.mp3") + 400]
    assert monthly in third and "checked" not in third
    assert "checked" in page[page.index("Album/01.mp3") - 200 : page.index("Album/01.mp3")]
    # Ticking all three anyway: the import adds two and refuses the third, keeping nothing of it.
    found = db.session.scalar(select(ArchiveImport))
    entries = [str(e["i"]) for e in found.entries if e["action"] == "add"]
    confirm_token = csrf_from(alice, url)
    alice.post(url, data={"csrf_token": confirm_token, "entry": entries})
    progress = alice.get(url).get_data(as_text=True)
    assert "2 added" in progress and monthly in progress
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Track.title))) == ["First", "Second"]
    audio = [p for p in stored_files(uploads / str(user.id)) if p.suffix == ".mp3"]
    assert len(audio) == 2
    assert db.session.get(type(user), user.id).month_uploads == 2


# --- the REST API ------------------------------------------------------------------------


def test_the_api_names_the_limit_with_its_figures(client, user, db, uploads, long_track):
    token = api_token(user)
    set_limits(max_file_bytes=20_000, max_duration_seconds=60, monthly_uploads=1)

    big = api_upload(client, token, FLAC, "big.flac")
    assert big.status_code == 413
    assert big.get_json()["error"] == {
        "code": "UPLOAD_LIMIT_FILE_SIZE",
        "message": "Files larger than 20 kB are not accepted for your role (this one is 28.5 kB).",
        "details": {"limit": 20_000, "value": 28_468, "limit_bytes": 20_000, "size_bytes": 28_468},
    }
    set_limits(max_duration_seconds=60, monthly_uploads=1)
    long = api_upload(client, token, long_track, "long.mp3")
    assert long.status_code == 422
    error = long.get_json()["error"]
    assert error["code"] == "UPLOAD_LIMIT_DURATION"
    assert error["message"] == "Tracks longer than 1 min are not accepted for your role (this one lasts 1.5 min)."
    assert error["details"]["limit"] == 60 and error["details"]["value"] == pytest.approx(90, abs=1)

    assert api_upload(client, token, MP3, "a.mp3").status_code == 201
    monthly = api_upload(client, token, FLAC, "b.flac")
    assert monthly.status_code == 403
    error = monthly.get_json()["error"]
    assert error["code"] == "UPLOAD_LIMIT_MONTHLY"
    next_month = date.fromisoformat(error["details"]["restarts_on"])
    assert next_month.day == 1 and next_month > datetime.now(UTC).date()
    assert error["details"] | {"restarts_on": None} == {"limit": 1, "value": 1, "count": 1, "restarts_on": None}

    set_limits(storage_bytes=30_000)
    storage = api_upload(client, token, FLAC, "b.flac")
    assert storage.status_code == 403
    assert storage.get_json()["error"]["details"] == {
        "limit": 30_000,
        "value": 12_560 + 28_468,
        "limit_bytes": 30_000,
        "used_bytes": 12_560,
        "size_bytes": 28_468,
    }
    assert_nothing_kept(db, uploads, user, count=1)


def test_the_openapi_document_names_the_limit_codes(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    responses = spec["paths"]["/api/v1/tracks"]["post"]["responses"]
    assert "UPLOAD_LIMIT_FILE_SIZE" in responses["413"]["description"]
    assert "UPLOAD_LIMIT_DURATION" in responses["422"]["description"]
    assert "UPLOAD_LIMIT_MONTHLY" in responses["403"]["description"]
    assert "UPLOAD_LIMIT_STORAGE" in responses["403"]["description"]
    details = spec["components"]["schemas"]["UploadLimitDetails"]["properties"]
    assert {"limit", "value", "restarts_on"} <= set(details)


# --- flask import ------------------------------------------------------------------------


def test_flask_import_is_held_to_the_quota_only(app, user, db, tmp_path):
    set_limits(max_file_bytes=1_000, monthly_uploads=1, storage_bytes=1_000)
    folder = tmp_path / "music"
    folder.mkdir()
    (folder / "a.mp3").write_bytes(MP3)
    (folder / "b.flac").write_bytes(FLAC)
    result = app.test_cli_runner().invoke(args=["import", str(folder), "--user", "alice"])
    assert result.exit_code == 0, result.output
    assert "Added 2, already there 0, rejected 0" in result.output
    db.session.refresh(user)
    assert user.month_uploads == 0  # the operator's imports are not the account's uploads


def test_the_messages_speak_the_users_language(alice, user, db):
    user.language = "fr"
    set_limits(max_file_bytes=20_000, monthly_uploads=1)
    big = upload_one(alice, FLAC, "big.flac")
    assert (
        big["message"] == "Les fichiers de plus de 20 ko ne sont pas acceptés pour votre rôle (celui-ci fait 28,5 ko)."
    )
    assert upload_one(alice, MP3, "a.mp3")["status"] == "added"
    month = upload_one(alice, zips.mp3_variant("Deux"), "b.mp3")["message"]
    assert month.startswith(
        "Vous avez envoyé 1 morceau ce mois-ci, le maximum que permet votre rôle\u00a0; le compte repart de zéro le 1 "
    )
    page = alice.get("/library/upload").get_data(as_text=True)
    assert "<dt>Envois ce mois-ci</dt><dd>1 sur 1\u00a0; le compte repart de zéro le 1" in page
