"""Migrations: `upgrade head` builds exactly the models' schema, `downgrade base` undoes it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask.testing import FlaskCliRunner
from sqlalchemy import column, func, inspect, select, table, text

from app import create_app
from app.extensions import db
from app.models import AlbumPlays, PlayEvent, Role, SearchWord, Track, User, Visibility
from app.models.types import for_this_dialect
from app.services import accounts, likes, listening, playlists
from app.unit_of_work import commit
from config import TestConfig
from tests import hostile
from tests.helpers import add_track, drop_pg_schema, new_pg_schema


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


def test_the_search_vocabulary_migration_fills_itself_from_the_tracks(empty_database: str, tmp_path: Path) -> None:
    """0021 on a library that has tracks: their words (genre included) are in the vocabulary."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=empty_database, UPLOAD_FOLDER=str(tmp_path / "up"))
    cli = app.test_cli_runner()
    with app.app_context():
        assert cli.invoke(args=["db", "upgrade"]).exit_code == 0
        owner = accounts.create_user("alice", "correct horse battery", role=Role.USER, rounds=4)
        commit()
        song = hostile.mp3_with_tags(
            tmp_path / "a.mp3", title="Let It Be", artist="The Beatles", album="Past", genre="Rock"
        )
        add_track(owner, "a.mp3", content=song)
        # The session's open transaction would hold locks the downgrade's DROP TABLE waits for
        # (PostgreSQL): end it first, as a deployment's migration runs with no app connected.
        db.session.remove()
        assert cli.invoke(args=["db", "downgrade", "0020"]).exit_code == 0
        # As the tracks were before: no genre in the search text.
        db.session.execute(text("UPDATE tracks SET search_text = 'let it be the beatles past'"))
        db.session.commit()
        assert cli.invoke(args=["db", "upgrade"]).exit_code == 0
        # (0023 then adds the marks before the free tags and the description.)
        assert db.session.scalar(select(Track.search_text)) == "let it be the beatles past rock \x1f \x1e"
        words = set(db.session.scalars(select(SearchWord.word).where(SearchWord.key == SearchWord.word)))
        assert words == {"beatles", "past", "rock"}
        assert db.session.get(SearchWord, ("beatls", "beatles")) is not None
        db.session.remove()
        db.engine.dispose()


def test_the_search_text_migration_adds_free_tags_and_descriptions(empty_database: str, tmp_path: Path) -> None:
    """0023 on a library with free tags and a description: both join the search text
    after their marks, their words join the vocabulary; the way down takes them out."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=empty_database, UPLOAD_FOLDER=str(tmp_path / "up"))
    cli = app.test_cli_runner()
    with app.app_context():
        assert cli.invoke(args=["db", "upgrade"]).exit_code == 0
        owner = accounts.create_user("alice", "correct horse battery", role=Role.USER, rounds=4)
        commit()
        song = hostile.mp3_with_tags(tmp_path / "a.mp3", title="Let It Be", artist="The Beatles", album="Past")
        plain = hostile.mp3_with_tags(tmp_path / "b.mp3", title="Yesterday", artist="The Beatles", album="Help")
        described, other = add_track(owner, "a.mp3", content=song), add_track(owner, "b.mp3", content=plain)
        ids = described.id, other.id
        db.session.remove()
        assert cli.invoke(args=["db", "downgrade", "0022"]).exit_code == 0
        # As 0022 left them: the tags alone in the search text, free tags and a description set.
        db.session.execute(
            text("UPDATE tracks SET search_text = 'let it be the beatles past' WHERE id = :i"), {"i": ids[0]}
        )
        db.session.execute(
            text("UPDATE tracks SET search_text = 'yesterday the beatles help' WHERE id = :i"), {"i": ids[1]}
        )
        db.session.execute(
            text("UPDATE tracks SET tags = :t, description = :d WHERE id = :i"),
            {"t": '["Café Sessions", "Mono"]', "d": "Taped\nin Abbey Road, ÉTÉ 1969", "i": ids[0]},
        )
        db.session.commit()
        assert cli.invoke(args=["db", "upgrade"]).exit_code == 0
        texts = dict(db.session.execute(select(Track.id, Track.search_text)).tuples().all())
        assert texts[ids[0]] == "let it be the beatles past \x1f cafe sessions mono \x1e taped in abbey road, ete 1969"
        assert texts[ids[1]] == "yesterday the beatles help \x1f \x1e"
        for word in ("cafe", "sessions", "mono", "taped", "abbey", "road", "1969"):
            assert db.session.get(SearchWord, (word, word)) is not None, word
        db.session.remove()
        assert cli.invoke(args=["db", "downgrade", "0022"]).exit_code == 0
        texts = dict(db.session.execute(select(Track.id, Track.search_text)).tuples().all())
        assert texts == {ids[0]: "let it be the beatles past", ids[1]: "yesterday the beatles help"}
        db.session.remove()
        db.engine.dispose()


def test_stepping_the_schema_down_and_up_keeps_listens_playlists_and_likes(empty_database: str, tmp_path: Path) -> None:
    """Migrations that rebuild a table on SQLite (tracks, users) must not take the rows that
    point at it with them: down to 0018 and back up, a library keeps its listens, playlist
    entries, hearts and tracks."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=empty_database, UPLOAD_FOLDER=str(tmp_path / "up"))
    cli = app.test_cli_runner()
    tables = ("users", "tracks", "play_events", "playlist_entries", "favourites")
    with app.app_context():
        assert cli.invoke(args=["db", "upgrade"]).exit_code == 0
        owner = accounts.create_user("alice", "correct horse battery", role=Role.USER, rounds=4)
        commit()
        song = hostile.mp3_with_tags(tmp_path / "a.mp3", title="Let It Be", artist="The Beatles", album="Past")
        track = add_track(owner, "a.mp3", content=song)
        listening.record_play(owner.id, track.id)
        mix = playlists.create(owner.id, "Mix")
        playlists.add_tracks(owner.id, mix.id, [track.id])
        playlists.set_favourite(owner.id, track.id, True)
        likes.like(owner.id, track.id)
        commit()
        counts = {t: db.session.scalar(select(func.count()).select_from(table(t))) for t in tables}
        assert all(counts.values()), counts
        db.session.remove()
        for step in (["downgrade", "0018"], ["upgrade"]):
            result = cli.invoke(args=["db", *step])
            assert result.exit_code == 0, result.output + repr(result.exception)
        assert {t: db.session.scalar(select(func.count()).select_from(table(t))) for t in tables} == counts
        db.session.remove()
        db.engine.dispose()


@contextmanager
def alice_and_bob(database: str, tmp_path: Path) -> Iterator[tuple[FlaskCliRunner, User, User]]:
    """An app on `database`, migrated to the head, with the accounts alice and bob
    (inside its context); the `flask` command runner to step the schema with."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database, UPLOAD_FOLDER=str(tmp_path / "up"))
    cli = app.test_cli_runner()
    with app.app_context():
        assert cli.invoke(args=["db", "upgrade"]).exit_code == 0
        alice = accounts.create_user("alice", "correct horse battery", role=Role.USER, rounds=4)
        bob = accounts.create_user("bob", "correct horse battery", role=Role.USER, rounds=4)
        commit()
        yield cli, alice, bob
        db.session.remove()
        db.engine.dispose()


def test_the_sessions_migration_groups_the_existing_listens(empty_database: str, tmp_path: Path) -> None:
    """0028 on a history: listens under 30 minutes apart share a session, per person."""
    with alice_and_bob(empty_database, tmp_path) as (cli, alice, bob):
        song = hostile.mp3_with_tags(tmp_path / "a.mp3", title="Song", artist="Ann", album="Ann album")
        track = add_track(alice, "a.mp3", content=song)
        db.session.remove()
        assert cli.invoke(args=["db", "downgrade", "0027"]).exit_code == 0
        start = datetime(2026, 1, 1, 20, 0, tzinfo=UTC)
        # Alice: 20:00, 20:25, 20:50 (one session), 22:00 (another); Bob: 20:10.
        for person, minutes in ((alice, 0), (alice, 25), (alice, 50), (alice, 120), (bob, 10)):
            db.session.execute(
                table("play_events", column("user_id"), column("track_id"), column("played_at")).insert(),
                {"user_id": person.id, "track_id": track.id, "played_at": start + timedelta(minutes=minutes)},
            )
        db.session.commit()
        db.session.remove()
        assert cli.invoke(args=["db", "upgrade"]).exit_code == 0
        rows = db.session.execute(
            select(PlayEvent.id, PlayEvent.user_id, PlayEvent.session_start).order_by(PlayEvent.id)
        ).all()
        ids = [row.id for row in rows]
        assert [row.session_start for row in rows] == [ids[0], ids[0], ids[0], ids[3], ids[4]]


def test_the_album_plays_migration_counts_the_existing_history(empty_database: str, tmp_path: Path) -> None:
    """0030 on a history: each person's listens by album, of the tracks they can see."""
    with alice_and_bob(empty_database, tmp_path) as (cli, alice, bob):
        own = add_track(
            alice, "a.mp3", content=hostile.mp3_with_tags(tmp_path / "a.mp3", title="A", artist="X", album="Own")
        )
        shared = add_track(
            bob,
            "b.mp3",
            content=hostile.mp3_with_tags(tmp_path / "b.mp3", title="B", artist="X", album="Shared"),
            visibility=Visibility.PUBLIC,
        )
        albums = {"own": own.album_id, "shared": shared.album_id}
        db.session.remove()
        assert cli.invoke(args=["db", "downgrade", "0029"]).exit_code == 0
        plays = table("play_events", column("user_id"), column("track_id"), column("played_at"))
        at = datetime(2026, 1, 1, tzinfo=UTC)
        # Alice: her track twice, bob's public one once. Bob: alice's private track
        # (it was public then), which he no longer sees.
        for person, track, minutes in ((alice, own, 0), (alice, own, 5), (alice, shared, 10), (bob, own, 15)):
            db.session.execute(
                plays.insert(),
                {"user_id": person.id, "track_id": track.id, "played_at": at + timedelta(minutes=minutes)},
            )
        db.session.commit()
        db.session.remove()
        assert cli.invoke(args=["db", "upgrade"]).exit_code == 0
        rows = set(db.session.execute(select(AlbumPlays.user_id, AlbumPlays.album_id, AlbumPlays.play_count)).tuples())
        assert rows == {(alice.id, albums["own"], 2), (alice.id, albums["shared"], 1)}


def test_the_track_order_index_is_built_again_after_an_interrupted_build(tmp_path: Path) -> None:
    """0031 on PostgreSQL builds CONCURRENTLY (outside a transaction); an interrupted build
    leaves an invalid index of that name, which the next run drops and builds whole."""
    schema, url = new_pg_schema()
    try:
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, UPLOAD_FOLDER=str(tmp_path / "up"))
        cli = app.test_cli_runner()
        with app.app_context():
            assert cli.invoke(args=["db", "upgrade", "0030"]).exit_code == 0
            with db.engine.begin() as conn:  # what an interrupted build leaves: an invalid index
                conn.execute(text("CREATE INDEX ix_tracks_sort_id ON tracks (id)"))
                conn.execute(
                    text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix_tracks_sort_id'::regclass")
                )
            result = cli.invoke(args=["db", "upgrade"])
            assert result.exit_code == 0, result.output + repr(result.exception)
            with db.engine.connect() as conn:
                valid = conn.execute(
                    text("SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_tracks_sort_id'::regclass")
                ).scalar_one()
            columns = next(i for i in inspect(db.engine).get_indexes("tracks") if i["name"] == "ix_tracks_sort_id")
            assert valid is True and columns["column_names"] == ["id", "owner_id", "visibility"]
            db.engine.dispose()
    finally:
        drop_pg_schema(schema)
