"""Registering, logging in and out, sessions, redirects and rate limits."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import Role, User
from app.services import accounts
from tests.helpers import PASSWORD, csrf_from, login, post_form, redis_test_url


def register(client, username: str, password: str = PASSWORD, confirm: str | None = None):
    return post_form(
        client,
        "/auth/register",
        "/auth/register",
        {"username": username, "password": password, "confirm": password if confirm is None else confirm},
    )


def test_home_sends_visitors_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_first_account_is_admin_later_ones_are_users(client, db):
    response = register(client, "founder")
    assert response.status_code == 302
    page = client.get("/library").get_data(as_text=True)
    assert "Admin" in page  # the navigation offers the admin pages
    assert "As the first account, you are the administrator." in page

    client.post("/auth/logout", data={"csrf_token": csrf_from(client, "/library")})
    register(client, "second")
    roles = {u.username: u.role for u in db.session.scalars(select(User))}
    assert roles == {"founder": Role.ADMIN, "second": Role.USER}
    page = client.get("/library").get_data(as_text=True)
    assert 'href="/admin/users"' not in page


def test_register_logs_in_and_shows_username_in_menu(client, admin):
    response = register(client, "bob")
    assert response.headers["Location"] == "/library"
    assert "Welcome, bob!" in client.get("/library").get_data(as_text=True)


# The last variant is "alice" in fullwidth letters, equal to it after NFKC.
@pytest.mark.parametrize("variant", ["alice", "ALICE", "Alice", "\uff41\uff4c\uff49\uff43\uff45"])
def test_duplicate_and_case_variant_usernames_are_refused(client, user, variant):
    response = register(client, variant)
    assert response.status_code == 400
    assert "That username is taken." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("username", "password", "confirm", "message"),
    [
        ("ab", PASSWORD, None, "A username is 3 to 32 characters long."),
        ("x" * 33, PASSWORD, None, "A username is 3 to 32 characters long."),
        ("bad name", PASSWORD, None, "letters, digits, dots, dashes and underscores only"),
        ("<script>", PASSWORD, None, "letters, digits, dots, dashes and underscores only"),
        ("carol", "short", None, "A password needs at least 8 characters."),
        ("carol", "         ", None, "A password cannot be only spaces."),
        ("carol", PASSWORD, "something else", "The passwords do not match."),
    ],
)
def test_registration_rules_have_clear_messages(client, admin, db, username, password, confirm, message):
    response = register(client, username, password, confirm)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.username_key == username.casefold())) is None


@pytest.mark.parametrize(
    "password",
    [
        "ü" * 100,  # 200 bytes of UTF-8, far past bcrypt's 72
        "p" * 256,
        "パスワードはとても長いです" * 10,
        "x" * 72 + "different tail",
    ],
)
def test_long_and_non_ascii_passwords_work(client, admin, password):
    assert register(client, "dora", password).status_code == 302
    client.post("/auth/logout", data={"csrf_token": csrf_from(client, "/library")})
    assert login(client, "dora", password).status_code == 302
    client.post("/auth/logout", data={"csrf_token": csrf_from(client, "/library")})
    # Passwords that share bcrypt's first 72 bytes still differ.
    assert login(client, "dora", password[:72]).status_code == 400


def test_unicode_username_keeps_its_characters(client, admin, db):
    assert register(client, "Зоя_日本").status_code == 302
    assert "Зоя_日本" in client.get("/library").get_data(as_text=True)


def test_login_and_logout(client, user):
    response = login(client, "alice")
    assert response.status_code == 302
    assert client.get("/library").status_code == 200
    response = client.post("/auth/logout", data={"csrf_token": csrf_from(client, "/library")})
    assert response.status_code == 302
    assert client.get("/library").status_code == 302


def test_login_is_case_insensitive(client, user):
    assert login(client, "ALICE").status_code == 302


def test_wrong_password_and_unknown_user_look_identical(client, user):
    wrong = login(client, "alice", "not the password")
    unknown = login(client, "nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 400

    def body(response):
        text = response.get_data(as_text=True)
        return text.replace("alice", "NAME").replace("nobody-here", "NAME").split('name="csrf_token"')[0]

    assert "Wrong username or password." in wrong.get_data(as_text=True)
    assert body(wrong) == body(unknown)


def test_disabled_account_cannot_log_in(client, make_user, admin):
    make_user("mallory", disabled=True)
    response = login(client, "mallory")
    assert response.status_code == 400
    assert "Wrong username or password." in response.get_data(as_text=True)


def test_logout_needs_post_and_csrf(client, user):
    login(client, "alice")
    assert client.get("/auth/logout").status_code == 405
    response = client.post("/auth/logout")
    assert response.status_code == 400
    assert "The form had expired" in response.get_data(as_text=True)
    assert client.get("/library").status_code == 200  # still logged in


def test_login_without_csrf_is_refused(client, user):
    response = client.post("/auth/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/library").status_code == 302


def test_copied_session_cookie_stops_working_after_logout(app, user):
    browser = app.test_client()
    login(browser, "alice")
    thief = app.test_client()
    cookie = browser.get_cookie("mc_session")
    thief.set_cookie("mc_session", cookie.value)
    assert thief.get("/library").status_code == 200

    browser.post("/auth/logout", data={"csrf_token": csrf_from(browser, "/library")})
    assert thief.get("/library").status_code == 302


def test_remember_me_cookie_is_revoked_by_logout(app, user):
    browser = app.test_client()
    login(browser, "alice", remember=True)
    remember = browser.get_cookie("mc_remember")
    assert remember is not None
    assert remember.http_only
    # A fresh browser with only the remember-me cookie is logged in ...
    other = app.test_client()
    other.set_cookie("mc_remember", remember.value)
    assert other.get("/library").status_code == 200
    # ... until the user logs out anywhere.
    browser.post("/auth/logout", data={"csrf_token": csrf_from(browser, "/library")})
    stale = app.test_client()
    stale.set_cookie("mc_remember", remember.value)
    assert stale.get("/library").status_code == 302


def test_session_is_renewed_at_login(app, user):
    browser = app.test_client()
    browser.get("/auth/login")
    before = browser.get_cookie("mc_session").value
    login(browser, "alice")
    after = browser.get_cookie("mc_session").value
    assert before != after


def test_session_cookie_flags(client, user):
    response = login(client, "alice")
    cookie = response.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP in development


def test_cookies_are_secure_over_https(client, user):
    token = csrf_from(client, "https://localhost/auth/login")
    response = client.post(
        "https://localhost/auth/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token, "remember": "y"},
        headers={"Referer": "https://localhost/auth/login"},
    )
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 2
    assert all("; Secure" in c for c in cookies)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/",
        "https:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_never_leaves_the_site(client, user, target):
    from urllib.parse import quote

    response = login(client, "alice", next_url=quote(target, safe=""))
    assert response.status_code == 302
    assert response.headers["Location"] == "/library"


def test_next_to_a_local_page_is_followed(client, user):
    response = login(client, "alice", next_url="/account")
    assert response.headers["Location"] == "/account"


def test_login_required_redirects_with_next(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")


def test_closed_registration(client, admin, db):
    accounts.set_registration_open(False)
    db.session.commit()
    page = client.get("/auth/register")
    assert page.status_code == 403
    assert "Registration is closed" in page.get_data(as_text=True)
    assert "Create an account" not in client.get("/auth/login").get_data(as_text=True)
    # A crafted POST is refused too.
    token = csrf_from(client, "/auth/login")
    response = client.post(
        "/auth/register", data={"username": "eve", "password": PASSWORD, "confirm": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 403
    assert db.session.scalar(select(User).where(User.username_key == "eve")) is None


def test_the_first_account_can_register_even_when_registration_defaults_closed(make_app):
    app = make_app(ALLOW_REGISTRATION=False)
    client = app.test_client()
    with app.app_context():
        assert register(client, "founder").status_code == 302
        client.post("/auth/logout", data={"csrf_token": csrf_from(client, "/library")})
        assert client.get("/auth/register").status_code == 403


# --- rate limits -----------------------------------------------------------------


@pytest.fixture
def limited_app(make_app):
    app = make_app(
        RATELIMIT_ENABLED=True,
        LOGIN_LIMIT_PER_IP="6 per minute",
        LOGIN_LIMIT_PER_USERNAME="3 per minute",
        REGISTER_LIMIT_PER_IP="2 per minute",
    )
    with app.app_context():
        yield app


def add_user(name: str, role: Role = Role.USER) -> None:
    # Not the make_user fixture: it builds a second app, and the limiter is one
    # object shared by every app of the process (its last init_app wins).
    from app.extensions import db

    accounts.create_user(name, PASSWORD, role=role, rounds=4)
    db.session.commit()


def test_failed_logins_for_one_username_are_throttled(limited_app):
    add_user("alice")
    client = limited_app.test_client()
    for _ in range(3):
        assert login(client, "alice", "wrong password").status_code == 400
    response = login(client, "ALICE", "wrong password")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in response.get_data(as_text=True)
    # Another username from the same address is still allowed.
    assert login(client, "bob", "wrong password").status_code == 400


def test_logins_from_one_address_are_throttled(limited_app):
    client = limited_app.test_client()
    statuses = [login(client, f"user{i}", "wrong password").status_code for i in range(8)]
    assert statuses[:6] == [400] * 6
    assert statuses[6:] == [429, 429]


def test_successful_logins_do_not_count_against_the_username(limited_app):
    add_user("alice")
    client = limited_app.test_client()
    for _ in range(4):
        assert login(client, "alice").status_code == 302
        client.post("/auth/logout", data={"csrf_token": csrf_from(client, "/library")})


def test_the_throttle_is_not_a_permanent_lockout(limited_app):
    from app.extensions import limiter

    add_user("alice")
    client = limited_app.test_client()
    for _ in range(3):
        login(client, "alice", "wrong password")
    assert login(client, "alice").status_code == 429
    limiter.reset()  # what the window's expiry does after a minute
    assert login(client, "alice").status_code == 302


def test_registration_is_throttled_per_address(limited_app):
    add_user("admin", Role.ADMIN)
    client = limited_app.test_client()
    assert register(client, "n1", "short").status_code == 400
    assert register(client, "n2", "short").status_code == 400
    assert register(client, "n3").status_code == 429


def test_limits_can_live_in_redis(make_app):
    """Several processes share their counters through Redis (RATELIMIT_STORAGE_URI)."""
    import os

    import redis

    url = redis_test_url("TEST_REDIS_URL", 15)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis not reachable at {url}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI=true requires it")
        pytest.skip(message)
    from app.extensions import limiter

    redis.Redis.from_url(url).flushdb()
    first = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=url, REGISTER_LIMIT_PER_IP="2 per minute")
    with first.app_context():
        add_user("admin", Role.ADMIN)
        client = first.test_client()
        assert register(client, "n1", "short").status_code == 400
        assert register(client, "n2", "short").status_code == 400
        # A second app (another worker) sees the same counter.
        second = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=url, REGISTER_LIMIT_PER_IP="2 per minute")
        assert register(second.test_client(), "n3", "short").status_code == 429
        limiter.reset()
