"""App passwords and API keys: made on the account page, shown once, kept
encrypted or hashed, revocable by their owner and by an admin."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select

from app.models import ApiKey, AppPassword
from app.services import credentials
from tests.helpers import login, post_form

SECRET_RE = re.compile(r'<code class="secret" translate="no">([^<]+)</code>')


def create(client, kind: str, name: str):
    prefix, url = ("app", "/account/app-passwords") if kind == "app" else ("key", "/account/api-keys")
    return post_form(client, "/account", url, {f"{prefix}-name": name})


def test_app_password_is_shown_once_and_kept_encrypted(alice, user, db):
    response = create(alice, "app", "Phone")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    secret = SECRET_RE.search(page).group(1)
    assert len(secret) >= 20 and "Phone" in page
    row = db.session.scalar(select(AppPassword).where(AppPassword.user_id == user.id))
    assert row.name == "Phone" and secret not in row.secret_encrypted
    assert credentials.match_password(user, secret) == row
    salt = "c19b2d"
    token = hashlib.md5((secret + salt).encode(), usedforsecurity=False).hexdigest()
    assert credentials.match_token(user, token, salt) == row
    assert credentials.match_password(user, "correct horse battery") is None
    # Listed afterwards, never shown again.
    again = alice.get("/account").get_data(as_text=True)
    assert "Phone" in again and secret not in again and "Never" in again


def test_api_key_is_kept_as_a_hash(alice, user, db):
    secret = SECRET_RE.search(create(alice, "key", "Feishin").get_data(as_text=True)).group(1)
    row = db.session.scalar(select(ApiKey).where(ApiKey.user_id == user.id))
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert credentials.find_api_key(secret) == row
    assert credentials.find_api_key(secret + "x") is None


def test_a_name_is_needed(alice, user, db):
    response = create(alice, "app", "   ")
    assert response.status_code == 400
    assert "Give it a name" in response.get_data(as_text=True)
    assert db.session.scalar(select(AppPassword)) is None


def test_revoking_and_another_users_credential(app, alice, user, make_user, db):
    create(alice, "app", "Phone")
    create(alice, "key", "Desk")
    password = db.session.scalar(select(AppPassword))
    key = db.session.scalar(select(ApiKey))
    make_user("bob")
    bob = app.test_client()
    login(bob, "bob")
    assert post_form(bob, "/account", f"/account/app-passwords/{password.id}/revoke").status_code == 404
    assert post_form(bob, "/account", f"/account/api-keys/{key.id}/revoke").status_code == 404
    # No CSRF token: refused.
    assert alice.post(f"/account/app-passwords/{password.id}/revoke").status_code == 400
    assert db.session.scalar(select(AppPassword)) is not None
    assert post_form(alice, "/account", f"/account/app-passwords/{password.id}/revoke").status_code == 302
    assert post_form(alice, "/account", f"/account/api-keys/{key.id}/revoke").status_code == 302
    assert db.session.scalar(select(AppPassword)) is None and db.session.scalar(select(ApiKey)) is None


def test_a_key_from_another_secret_does_not_decrypt(make_app, make_user):
    first = make_app()
    with first.app_context():
        alice = make_user("alice")
        _row, secret = credentials.create_app_password(alice.id, "Phone")
        from app.extensions import db

        db.session.commit()
    other = make_app(APP_PASSWORD_KEY="a different key entirely, 0123456789")
    with other.app_context():
        from app.extensions import db

        user = db.session.get(type(alice), alice.id)
        assert credentials.match_password(user, secret) is None


def test_admin_sees_counts_and_revokes_them_all(app, alice, user, admin, db):
    create(alice, "app", "Phone")
    create(alice, "app", "Car")
    create(alice, "key", "Desk")
    chief = app.test_client()
    login(chief, "admin")
    listing = chief.get("/admin/users").get_data(as_text=True)
    assert "App passwords" in listing and "API keys" in listing
    detail = chief.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert "2 app passwords, 1 API keys." in detail
    response = post_form(chief, f"/admin/users/{user.id}", f"/admin/users/{user.id}/revoke-credentials")
    assert response.status_code == 302
    assert credentials.counts_for([user.id])[user.id] == credentials.CredentialCounts(0, 0)
    # A user cannot reach the admin action.
    assert alice.post(f"/admin/users/{user.id}/revoke-credentials").status_code in (400, 403)


def test_devices_page_says_how_to_connect(alice, user, db):
    page = alice.get("/account/devices").get_data(as_text=True)
    assert "http://localhost" in page and "alice" in page and "Create app password" in page
    secret = SECRET_RE.search(
        post_form(alice, "/account/devices", "/account/app-passwords", {"app-name": "Car"}).get_data(as_text=True)
    ).group(1)
    assert credentials.match_password(user, secret) is not None
    assert "Car" in alice.get("/account/devices").get_data(as_text=True)
