"""The admin pages: who may open them, and every action on an account."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.models import Role, User
from tests.helpers import PASSWORD, csrf_from, login, post_form

ADMIN_GET_URLS = ["/admin/users", "/admin/users/new", "/admin/users/{id}", "/admin/users/{id}/delete"]
ADMIN_POST_URLS = [
    "/admin/settings/registration",
    "/admin/users/new",
    "/admin/users/{id}/role",
    "/admin/users/{id}/disable",
    "/admin/users/{id}/enable",
    "/admin/users/{id}/password",
    "/admin/users/{id}/quota",
    "/admin/users/{id}/delete",
]


@pytest.fixture
def admin_client(app, admin):
    client = app.test_client()
    login(client, "admin")
    return client


def user_page(client, target: User) -> str:
    """The page whose forms a real admin would submit."""
    return f"/admin/users/{target.id}"


def test_anonymous_is_sent_to_login(client, user):
    for url in ADMIN_GET_URLS:
        response = client.get(url.format(id=user.id))
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/auth/login?next=")


@pytest.mark.parametrize("role", [Role.USER, Role.LISTENER])
def test_users_and_listeners_get_403(client, make_user, admin, role):
    member = make_user("member", role=role)
    login(client, "member")
    token = csrf_from(client, "/account")
    for url in ADMIN_GET_URLS:
        assert client.get(url.format(id=admin.id)).status_code == 403, url
    for url in ADMIN_POST_URLS:
        response = client.post(url.format(id=admin.id), data={"csrf_token": token, "role": "user", "open": "y"})
        assert response.status_code == 403, url
    assert admin.role == Role.ADMIN and not admin.disabled
    assert member.role == role


def test_user_list_shows_every_account(admin_client, make_user):
    make_user("bob", role=Role.LISTENER, disabled=True, quota_bytes=2_000_000_000)
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert "bob" in page and "admin" in page
    assert "Listener" in page and "Disabled" in page
    assert "2 GB" in page  # the quota
    assert "never" in page  # bob never logged in
    assert "0 bytes" in page  # storage used


def test_change_role(admin_client, user):
    response = post_form(
        admin_client, user_page(admin_client, user), f"/admin/users/{user.id}/role", {"role": "listener"}
    )
    assert response.status_code == 302
    assert user.role == Role.LISTENER
    assert "alice is now listener." in admin_client.get(response.headers["Location"]).get_data(as_text=True)


def test_unknown_role_is_refused(admin_client, user):
    response = post_form(admin_client, user_page(admin_client, user), f"/admin/users/{user.id}/role", {"role": "root"})
    assert response.status_code == 302
    assert "Not a valid choice" in admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert user.role == Role.USER


def test_demoted_admin_loses_admin_pages_on_next_click(app, admin, make_user):
    second_admin = make_user("second", role=Role.ADMIN)
    second = app.test_client()
    login(second, "second")
    assert second.get("/admin/users").status_code == 200
    admin_client = app.test_client()
    login(admin_client, "admin")
    post_form(admin_client, "/admin/users", f"/admin/users/{second_admin.id}/role", {"role": "user"})
    assert second.get("/admin/users").status_code == 403
    assert 'href="/admin/users"' not in second.get("/library").get_data(as_text=True)


def test_disable_ends_sessions_at_once_and_enable_restores_login(app, admin, user):
    victim = app.test_client()
    login(victim, "alice", remember=True)
    remember = victim.get_cookie("mc_remember").value
    admin_client = app.test_client()
    login(admin_client, "admin")

    post_form(admin_client, user_page(admin_client, user), f"/admin/users/{user.id}/disable")
    assert user.disabled
    assert victim.get("/library").status_code == 302
    fresh = app.test_client()
    fresh.set_cookie("mc_remember", remember)
    assert fresh.get("/library").status_code == 302
    assert login(app.test_client(), "alice").status_code == 400

    post_form(admin_client, user_page(admin_client, user), f"/admin/users/{user.id}/enable")
    assert not user.disabled
    assert login(app.test_client(), "alice").status_code == 302


def test_reset_password(app, admin_client, user):
    victim = app.test_client()
    login(victim, "alice")
    response = post_form(
        admin_client, user_page(admin_client, user), f"/admin/users/{user.id}/password", {"password": "brand new pass"}
    )
    assert "password is reset" in admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert victim.get("/library").status_code == 302  # old session ended
    assert login(app.test_client(), "alice").status_code == 400
    assert login(app.test_client(), "alice", "brand new pass").status_code == 302


def test_reset_password_enforces_rules(admin_client, user):
    response = post_form(
        admin_client, user_page(admin_client, user), f"/admin/users/{user.id}/password", {"password": "short"}
    )
    assert "A password needs at least 8 characters." in admin_client.get(response.headers["Location"]).get_data(
        as_text=True
    )


@pytest.mark.parametrize(("value", "expected"), [("2", 2_000_000_000), ("0.5", 500_000_000), ("", None)])
def test_set_quota(admin_client, user, value, expected):
    post_form(admin_client, user_page(admin_client, user), f"/admin/users/{user.id}/quota", {"quota_gb": value})
    assert user.quota_bytes == expected


@pytest.mark.parametrize("value", ["-1", "lots"])
def test_bad_quota_is_refused(admin_client, user, value):
    response = post_form(
        admin_client, user_page(admin_client, user), f"/admin/users/{user.id}/quota", {"quota_gb": value}
    )
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "flash-error" in page
    assert user.quota_bytes is None


def test_delete_account_asks_then_deletes(admin_client, user, db):
    page = admin_client.get(f"/admin/users/{user.id}/delete").get_data(as_text=True)
    assert "Delete alice?" in page
    user_id = user.id
    response = post_form(admin_client, f"/admin/users/{user.id}/delete", f"/admin/users/{user_id}/delete")
    assert response.headers["Location"] == "/admin/users"
    assert db.session.get(User, user_id) is None


def test_missing_account_is_404(admin_client):
    assert admin_client.get("/admin/users/9999").status_code == 404
    token = csrf_from(admin_client, "/admin/users")
    assert admin_client.post("/admin/users/9999/disable", data={"csrf_token": token}).status_code == 404


def test_create_account(admin_client, db):
    response = post_form(
        admin_client,
        "/admin/users/new",
        "/admin/users/new",
        {"username": "newbie", "password": PASSWORD, "role": "listener"},
    )
    assert response.status_code == 302
    created = db.session.scalar(select(User).where(User.username_key == "newbie"))
    assert created.role == Role.LISTENER


def test_close_and_reopen_registration(app, admin_client):
    post_form(admin_client, "/admin/users", "/admin/settings/registration", {})
    visitor = app.test_client()
    assert visitor.get("/auth/register").status_code == 403
    post_form(admin_client, "/admin/users", "/admin/settings/registration", {"open": "y"})
    assert visitor.get("/auth/register").status_code == 200


# --- the last active admin -------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "data"),
    [("role", {"role": "user"}), ("role", {"role": "listener"}), ("disable", {}), ("delete", {})],
)
def test_last_active_admin_is_protected(admin_client, admin, user, action, data):
    response = post_form(admin_client, user_page(admin_client, admin), f"/admin/users/{admin.id}/{action}", data)
    assert response.status_code == 302
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "admin is the last active admin and cannot be" in page
    assert admin.role == Role.ADMIN
    assert not admin.disabled


def test_a_disabled_admin_does_not_count(admin_client, admin, make_user):
    other = make_user("other-admin", role=Role.ADMIN, disabled=True)
    response = post_form(
        admin_client, user_page(admin_client, admin), f"/admin/users/{admin.id}/role", {"role": "user"}
    )
    assert "last active admin" in admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert other.disabled


def test_an_admin_can_step_down_when_another_is_active(admin_client, admin, make_user):
    make_user("other-admin", role=Role.ADMIN)
    post_form(admin_client, user_page(admin_client, admin), f"/admin/users/{admin.id}/role", {"role": "user"})
    assert admin.role == Role.USER
    assert admin_client.get("/admin/users").status_code == 403


def test_csrf_missing_or_wrong_changes_nothing(admin_client, user):
    for token in (None, "forged-token"):
        data = {"role": "listener"} if token is None else {"role": "listener", "csrf_token": token}
        response = admin_client.post(f"/admin/users/{user.id}/role", data=data)
        assert response.status_code == 400
        assert response.get_data(as_text=True).count("The form had expired") == 1
    assert user.role == Role.USER
    response = admin_client.post(f"/admin/users/{user.id}/delete", data={})
    assert response.status_code == 400
    assert user.username == "alice"


def test_the_menu_marks_the_section_of_the_page(client, admin, user):
    login(client, "admin")
    for path, current in (
        ("/library", "/library"),
        ("/library/albums", "/library"),
        ("/library/upload", "/library/upload"),
        ("/admin/users", "/admin/users"),
        ("/admin/jobs", "/admin/users"),  # the jobs page is part of the admin section
    ):
        page = client.get(path).get_data(as_text=True)
        menu = page.split('<nav class="site-nav"', 1)[1].split("</nav>", 1)[0]
        marked = re.findall(r'<a href="([^"]+)" aria-current="page">', menu)
        assert marked == [current], (path, marked)
