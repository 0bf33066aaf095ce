"""Migrations: `upgrade head` builds exactly the models' schema, `downgrade base` undoes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app import create_app
from app.extensions import db
from app.models.types import for_this_dialect
from config import TestConfig
from tests.helpers import drop_pg_schema, new_pg_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    schema, url = new_pg_schema()
    yield url
    drop_pg_schema(schema)


def test_upgrade_matches_models_and_downgrade_empties(empty_database: str, tmp_path: Path) -> None:
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=empty_database, UPLOAD_FOLDER=str(tmp_path / "up"))
    cli = app.test_cli_runner()

    def flask_db(*args: str) -> None:
        # Through `flask db`, as people run it (Flask-Migrate is loaded by that command).
        result = cli.invoke(args=["db", *args])
        assert result.exit_code == 0, result.output + repr(result.exception)

    with app.app_context():
        flask_db("upgrade")
        with db.engine.connect() as conn:
            dialect = db.engine.dialect.name
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_object": lambda obj, *_: for_this_dialect(obj, dialect),
                },
            )
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"the migrations and the models disagree: {diff}"
        tables = set(inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables

        flask_db("downgrade", "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}

        flask_db("upgrade")  # and back up again, as a re-deploy would
        assert set(db.metadata.tables) <= set(inspect(db.engine).get_table_names())
        db.engine.dispose()
