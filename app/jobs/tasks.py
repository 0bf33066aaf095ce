"""The background tasks: plain functions of plain values that call one service each.

They run inside an app context (app/jobs/queue.py pushes it and commits after
them) and are idempotent: running one twice, or for something deleted since,
does no harm. What one returns is kept as its job's result (JSON).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from huey import crontab

from app.extensions import db
from app.services import album_plays, dashboard, jobs, mixes, recommend
from app.services.audio_tools import ffmpeg_path
from app.services.jobs import (
    ANALYSE_TRACK,
    HOURLY_CLEANUP,
    IMPORT_ARCHIVE,
    MAKE_COVER,
    PREENCODE,
    PREENCODE_ALL,
    REBUILD_RECOMMENDATIONS,
    REBUILD_SEARCH_WORDS,
    RECOUNT_ALBUM_PLAYS,
    REFRESH_ALL_MIXES,
    REFRESH_DASHBOARD,
    REFRESH_MIXES,
    TRIM_VARIANTS,
    UPDATE_RECOMMENDATIONS,
    VERIFY_LIBRARY,
)
from app.services.library import analysis, archives, check, covers, resumable, vocabulary
from app.services.storage import get_storage
from app.services.tags import pool_for
from app.services.transcode import cache, preencode
from app.unit_of_work import commit

log = logging.getLogger(__name__)

# Records of finished jobs are kept this long (the newest of each kind always).
KEEP_DONE_JOBS = timedelta(days=7)


def make_cover(track_id: int) -> str | None:
    """The thumbnail of a track's embedded art (nothing when it has one, or is gone)."""
    return covers.make_cover(get_storage(), pool_for(current_app.config), track_id)


def analyse_track(track_id: int) -> dict[str, Any] | None:
    """Loudness, ReplayGain tags, waveform and decoded length of a track (after upload)."""
    config = current_app.config
    return analysis.analyse_track(
        get_storage(),
        pool_for(config),
        track_id,
        timeout=config["ANALYSIS_TIMEOUT"],
        true_peak=config["ANALYSIS_TRUE_PEAK"],
    )


def verify_library(deep: bool = False, fix: bool = False) -> dict[str, Any]:
    """The library check; its report is the job's result, shown on the admin page."""
    return check.check_library(get_storage(), deep=deep, fix=fix).to_dict()


def import_archive(import_id: int) -> dict[str, Any]:
    """Extract and add the entries of a ZIP archive its owner confirmed (resumes where it stopped)."""
    config = current_app.config
    return archives.run_import(get_storage(), pool_for(config), import_id, archives.limits_for(config))


def hourly_cleanup() -> dict[str, int]:
    """Remove uploads' temporary files a crash left behind, archives left unconfirmed,
    resumable uploads past UPLOAD_RESUME_HOURS, and old job records."""
    store = get_storage()
    removed = check.remove_stale_incoming(store)
    lifetime = timedelta(hours=current_app.config["UPLOAD_RESUME_HOURS"])
    # Each part on its own: the object store away leaves its part for the next hour.
    expired = _unless_store_away("archives", lambda: archives.expire_previews(store, lifetime))
    partial = _unless_store_away("resumable uploads", lambda: resumable.expire(store))
    pruned = jobs.prune(KEEP_DONE_JOBS)
    return {
        "stale_removed": len(removed),
        "archives_expired": expired,
        "uploads_expired": partial,
        "jobs_pruned": pruned,
    }


def _unless_store_away(what: str, part: Callable[[], int]) -> int:
    try:
        return part()
    except OSError as exc:  # StorageUnavailable is one
        db.session.rollback()
        log.warning("hourly clean-up of %s left for the next hour: %s", what, exc)
        return 0


def trim_variants() -> dict[str, int]:
    """Keep the transcoding cache under TRANSCODE_CACHE_MB (least recently used
    variants go first, those pre-encoded for someone's phone last) and remove
    partial files of encodes that died."""
    pinned = preencode.pinned_variants()
    return cache.evict(get_storage(), current_app.config["TRANSCODE_CACHE_MB"] * 1024 * 1024, pinned)


def preencode_user(user_id: int) -> dict[str, int]:
    """Encode a listener's favourites and/or playlists at their pre-encoding quality
    into the variant cache, one at a time, giving way to listeners."""
    config = current_app.config
    ffmpeg, _origin = ffmpeg_path(config["FFMPEG"])
    return preencode.run(get_storage(), ffmpeg, user_id, cache.Limits.from_config(config))


def preencode_all() -> dict[str, int]:
    """Queue the pre-encoding of everyone who has it on (nightly: catches up what
    was missed or postponed)."""
    return {"listeners": preencode.queue_all()}


def update_recommendations(
    track_ids: list[int], listened: int | None = None, first_listen: bool = False
) -> dict[str, int]:
    """Recompute the co-listening rows of the tracks a like, heart or playlist addition
    touched, or after a listen (`listened`) its pairs with the tracks of its session."""
    return {"tracks": recommend.update_co_listens(track_ids, listened, first_listen)}


def rebuild_recommendations() -> dict[str, int]:
    """Recompute every public track's co-listening rows (nightly: catches what the per-event
    updates left out, such as the rest of a long imported playlist)."""
    return {"tracks": recommend.rebuild_all()}


def refresh_dashboard(scale: str) -> dict[str, int]:
    """Count the admin dashboard's figures of one chart scale and store them (a view found
    them older than DASHBOARD_CACHE_SECONDS)."""
    board = dashboard.refresh(scale)
    return {"tracks": board.tracks}


def refresh_mixes(user_id: int) -> dict[str, int]:
    """Recompute and store one listener's For you mixes (their history changed enough, or nightly)."""
    return mixes.refresh_job(user_id)


def refresh_all_mixes() -> dict[str, int]:
    """Queue the refresh of every active listener's mixes (nightly, after the co-listening
    rebuild: new uploads and new co-listening reach the mixes)."""
    return {"listeners": mixes.queue_all()}


def rebuild_search_words() -> dict[str, int]:
    """Rebuild the search's vocabulary (nightly: drops the words of deleted or retagged
    tracks, which uploads and edits, adding words as they go, leave behind)."""
    return {"words": vocabulary.rebuild()}


def recount_album_plays() -> dict[str, int]:
    """Count every listener's albums again (nightly: a listen recorded while an edit
    moved its track went to the old album). One listener per transaction, so their
    listens never wait for the whole count."""
    people = album_plays.listeners()
    for person in people:
        album_plays.recount_listener(person)
        commit()
    return {"listeners": len(people)}


TASKS: dict[str, Callable[..., Any]] = {
    MAKE_COVER: make_cover,
    ANALYSE_TRACK: analyse_track,
    VERIFY_LIBRARY: verify_library,
    HOURLY_CLEANUP: hourly_cleanup,
    TRIM_VARIANTS: trim_variants,
    IMPORT_ARCHIVE: import_archive,
    UPDATE_RECOMMENDATIONS: update_recommendations,
    REBUILD_RECOMMENDATIONS: rebuild_recommendations,
    REBUILD_SEARCH_WORDS: rebuild_search_words,
    RECOUNT_ALBUM_PLAYS: recount_album_plays,
    REFRESH_MIXES: refresh_mixes,
    REFRESH_DASHBOARD: refresh_dashboard,
    REFRESH_ALL_MIXES: refresh_all_mixes,
    PREENCODE: preencode_user,
    PREENCODE_ALL: preencode_all,
}


@dataclass(frozen=True)
class Periodic:
    """A job Huey's scheduler starts on a schedule (in `flask worker` with periodic tasks on)."""

    name: str  # the scheduler's name for it
    job: str  # the job it runs, as the jobs table records it
    args: tuple[Any, ...]
    schedule: Callable[..., bool]


PERIODIC = [
    # The daily check only reports: what to do about a missing file is the admin's call.
    Periodic("daily_library_check", VERIFY_LIBRARY, (False, False), crontab(hour="4", minute="17")),
    Periodic("hourly_cleanup_schedule", HOURLY_CLEANUP, (), crontab(minute="7")),
    # Transcodes fill the cache quickly (a 4-minute track is 4 to 10 MB per preset).
    Periodic("trim_variants_schedule", TRIM_VARIANTS, (), crontab(minute="*/10")),
    Periodic("nightly_recommendations", REBUILD_RECOMMENDATIONS, (), crontab(hour="3", minute="41")),
    Periodic("nightly_mixes", REFRESH_ALL_MIXES, (), crontab(hour="4", minute="3")),
    Periodic("nightly_search_words", REBUILD_SEARCH_WORDS, (), crontab(hour="3", minute="23")),
    Periodic("nightly_album_plays", RECOUNT_ALBUM_PLAYS, (), crontab(hour="3", minute="31")),
    # At night listeners rarely need the slots pre-encoding gives way to.
    Periodic("nightly_preencode", PREENCODE_ALL, (), crontab(hour="2", minute="51")),
]
