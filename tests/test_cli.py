"""The shell commands, run through Flask's CLI runner."""

from __future__ import annotations

from sqlalchemy import select

from app.models import Role, User
from tests.helpers import login


def test_create_admin_prompts_for_the_password(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin", "root-user"], input="a long admin password\na long admin password\n")
    assert result.exit_code == 0, result.output
    assert "Admin account root-user created." in result.output
    assert "a long admin password" not in result.output  # never echoed
    created = db.session.scalar(select(User).where(User.username_key == "root-user"))
    assert created.role == Role.ADMIN
    assert login(app.test_client(), "root-user", "a long admin password").status_code == 302


def test_create_admin_refuses_weak_passwords_and_taken_names(app, user):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin", "root-user"], input="short\nshort\n")
    assert result.exit_code == 1
    assert "A password needs at least 8 characters." in result.output
    result = runner.invoke(args=["create-admin", "ALICE"], input="a long admin password\na long admin password\n")
    assert result.exit_code == 1
    assert "That username is taken." in result.output


def test_create_admin_asks_twice(app, db):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "root-user"],
        input="a long admin password\ntypo\na long admin password\na long admin password\n",
    )
    assert result.exit_code == 0
    assert "do not match" in result.output.lower() or "don't match" in result.output.lower()


def test_set_role(app, user, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["set-role", "alice", "listener"])
    assert result.exit_code == 0, result.output
    assert "alice is now listener." in result.output
    assert user.role == Role.LISTENER


def test_set_role_errors(app, admin):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["set-role", "ghost", "user"])
    assert result.exit_code == 1
    assert "No account named 'ghost'." in result.output
    result = runner.invoke(args=["set-role", "admin", "user"])
    assert result.exit_code == 1
    assert "last active admin" in result.output
    result = runner.invoke(args=["set-role", "admin", "superuser"])
    assert result.exit_code == 2
    assert admin.role == Role.ADMIN
