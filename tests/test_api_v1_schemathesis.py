"""schemathesis over every operation of /api/v1/openapi.json, against a real
gunicorn (deploy/gunicorn.conf.py) on SQLite and PostgreSQL, with a write
token and a small library: no answer may be a 5xx, and none may break the
schema the document gives for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.extensions import db
from app.models import AccessScope, Visibility
from app.services import credentials, playlists
from tests.helpers import add_track

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# Examples per operation: enough to reach every parameter and status, small
# enough that both databases run within about two minutes. The coverage phase
# (every boundary of every parameter, about 1,000 more requests) takes minutes
# more on a busy machine: API_FUZZ_FULL=1 adds it.
MAX_EXAMPLES = "15"
PHASES = "examples,coverage,fuzzing" if os.environ.get("API_FUZZ_FULL") else "examples,fuzzing"


def test_schemathesis_finds_no_server_error_and_no_schema_violation(app, user, make_user, start_gunicorn, tmp_path):
    bob = make_user("bob")
    tracks = [
        add_track(user, "tagged.mp3"),
        add_track(user, "tagged.flac", Visibility.PUBLIC),
        add_track(user, "tagged.opus"),
        add_track(bob, "tagged.ogg"),
        add_track(bob, "tagged.m4a", Visibility.PUBLIC),
    ]
    mix = playlists.create(user.id, "Mix")
    playlists.add_tracks(user.id, mix.id, [tracks[0].id, tracks[1].id, tracks[4].id])
    others = playlists.create(bob.id, "Bob's")
    _row, token = credentials.create_access_token(user, "schemathesis", AccessScope.WRITE)
    db.session.commit()
    entries = [view.entry.id for view in playlists.entries(mix, user.id)]
    # Most generated ids are real ones (of either account), so the operations'
    # own logic runs, not only their 404.
    known = {
        "track_id": [t.id for t in tracks],
        "album_id": sorted({t.album_id for t in tracks}),
        "artist_id": sorted({t.artist_id for t in tracks}),
        "playlist_id": [mix.id, others.id],
        "entry_id": entries,
    }
    config = [f"[dictionaries.{name}]\nvalues = {[str(v) for v in values]}\n" for name, values in known.items()]
    config.append("[parameters]")
    config += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.8 }}' for name in known]
    (tmp_path / "schemathesis.toml").write_text("\n".join(config) + "\n")
    # The per-token limits would answer most of the run 429 (tested in test_api_v1.py).
    many = {f"API_LIMIT_{kind}": "100000 per minute" for kind in ("READ", "UPDATE", "UPLOAD", "DELETE")}
    server = start_gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], Path(app.config["UPLOAD_FOLDER"]), **many)
    done = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{server.url}/api/v1/openapi.json",
            "--url",
            server.url,
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            MAX_EXAMPLES,
            "--phases",
            PHASES,
            "--workers",
            "2",
            "--seed",
            "1",
            "--no-shrink",
            "--no-color",
            "--generation-database",
            "none",
            "--request-timeout",
            "20",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-15000:] + "\n--- server log ---\n" + server.log.read_text()[-5000:]
    assert "/api/v1/tracks" in report  # it did test the operations
