"""Shell commands: `flask create-admin`, `flask set-role`."""

from __future__ import annotations

import click
from flask import Flask, current_app

from app.extensions import db
from app.models import Role
from app.services import accounts
from app.services.errors import DomainError


def register_cli(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(set_role)


@click.command("create-admin")
@click.argument("username")
@click.password_option("--password", prompt="Password", help="Prompted (and not echoed) when left out.")
def create_admin(username: str, password: str) -> None:
    """Create an admin account named USERNAME."""
    try:
        user = accounts.create_user(username, password, role=Role.ADMIN, rounds=current_app.config["BCRYPT_ROUNDS"])
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Admin account {user.username} created.")


@click.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice([r.value for r in Role]))
def set_role(username: str, role: str) -> None:
    """Give USERNAME the role ROLE (admin, user or listener)."""
    try:
        user = accounts.get_by_username(username)
        accounts.set_role(user, Role(role))
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"{user.username} is now {role}.")
