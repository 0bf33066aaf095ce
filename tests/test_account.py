"""The account page: password change and self-deletion."""

from __future__ import annotations

from app.models import Role, User
from tests.helpers import PASSWORD, login, post_form


def change_password(client, current: str, new: str, confirm: str | None = None):
    return post_form(
        client,
        "/account",
        "/account/password",
        {"pw-current": current, "pw-password": new, "pw-confirm": new if confirm is None else confirm},
    )


def test_account_page_shows_the_user(client, user):
    login(client, "alice")
    page = client.get("/account").get_data(as_text=True)
    assert "alice" in page and "Change password" in page and "Delete my account" in page


def test_change_password_keeps_this_session_and_ends_the_others(app, user):
    here = app.test_client()
    login(here, "alice")
    elsewhere = app.test_client()
    login(elsewhere, "alice", remember=True)
    copied = app.test_client()
    copied.set_cookie("mc_session", here.get_cookie("mc_session").value)

    response = change_password(here, PASSWORD, "a whole new passphrase")
    assert response.status_code == 302
    assert "Your password is changed." in here.get("/account").get_data(as_text=True)
    assert elsewhere.get("/library").status_code == 302
    assert copied.get("/library").status_code == 302
    assert login(app.test_client(), "alice", PASSWORD).status_code == 400
    assert login(app.test_client(), "alice", "a whole new passphrase").status_code == 302


def test_change_password_needs_the_current_one(client, user):
    login(client, "alice")
    response = change_password(client, "not my password", "a whole new passphrase")
    assert response.status_code == 400
    assert "Your current password is not right." in response.get_data(as_text=True)
    assert login(client.application.test_client(), "alice").status_code == 302


def test_change_password_rules(client, user):
    login(client, "alice")
    response = change_password(client, PASSWORD, "short")
    assert "A password needs at least 8 characters." in response.get_data(as_text=True)
    response = change_password(client, PASSWORD, "long enough one", "long enough two")
    assert "The passwords do not match." in response.get_data(as_text=True)


def test_delete_own_account(client, user, db):
    user_id = user.id
    login(client, "alice")
    response = post_form(client, "/account", "/account/delete", {"del-password": "wrong password"})
    assert response.status_code == 400
    assert "That password is not right." in response.get_data(as_text=True)
    assert db.session.get(User, user_id) is not None

    response = post_form(client, "/account", "/account/delete", {"del-password": PASSWORD})
    assert response.headers["Location"] == "/auth/login"
    assert db.session.get(User, user_id) is None
    assert client.get("/library").status_code == 302
    assert login(client, "alice").status_code == 400


def test_last_admin_cannot_delete_themselves(client, admin, db):
    login(client, "admin")
    response = post_form(client, "/account", "/account/delete", {"del-password": PASSWORD})
    assert response.status_code == 400
    assert "last active admin" in response.get_data(as_text=True)
    assert db.session.get(User, admin.id).role == Role.ADMIN
