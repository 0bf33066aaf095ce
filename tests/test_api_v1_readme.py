"""The README's REST API walk-through works as written: its curl commands run
against a real gunicorn with a fresh account, and print what the README says."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import DATA
from tests.servers import ROOT

MARKER = "<!-- api-walkthrough:"


def walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    after = text[text.index(MARKER) :]
    return after.split("```sh\n", 1)[1].split("```", 1)[0]


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="curl and jq are in TEST_DEBS")
def test_the_readme_walkthrough_runs_as_written(app, user, start_gunicorn, tmp_path):
    server = start_gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], Path(app.config["UPLOAD_FOLDER"]))
    script = walkthrough()
    assert "BASE=http://127.0.0.1:5000\n" in script
    script = script.replace("BASE=http://127.0.0.1:5000\n", f"BASE={server.url}\n")
    shutil.copy(DATA / "tagged.mp3", tmp_path / "song.mp3")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr + server.log.read_text()[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout
    assert json.loads(lines[0]) == {"total": 1, "titles": ["Morning Song"]}
    changes = json.loads(lines[1])
    assert changes["year"]["new"] == 2024 and changes["album"]["new"] == "Dawn"
    assert lines[2] == "206 audio/mpeg"
    shared = json.loads(lines[3])
    assert shared["tracks"] == 1
    assert re.fullmatch(re.escape(server.url) + r"/s/[\w-]+", shared["share_url"])
