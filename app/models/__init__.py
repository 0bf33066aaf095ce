"""Models, one module per domain; importing this package registers every table."""

from app.models.bulk import BulkEdit
from app.models.credential import AccessScope, AccessToken, ApiKey, AppPassword
from app.models.dashboard import DashboardFigures
from app.models.discovery import CoListen, StoredMixes, TrackLike
from app.models.duplicates import KeptDuplicates
from app.models.imports import ArchiveImport, ImportState
from app.models.job import Job, JobState
from app.models.library import Album, AnalysisState, Artist, SearchWord, Track, TrackTag, Visibility
from app.models.listening import AlbumPlays, NowPlaying, PlayEvent, PlayQueue, PlayQueueEntry
from app.models.playlist import (
    AlbumRating,
    AlbumStar,
    ArtistRating,
    ArtistStar,
    Favourite,
    Playlist,
    PlaylistEntry,
    PlaylistVisibility,
    TrackRating,
)
from app.models.resumable import ResumableUpload
from app.models.settings import Setting
from app.models.user import Role, RoleLimits, User

__all__ = [
    "AccessScope",
    "AccessToken",
    "Album",
    "AlbumPlays",
    "AlbumRating",
    "AlbumStar",
    "AnalysisState",
    "ApiKey",
    "AppPassword",
    "ArchiveImport",
    "Artist",
    "ArtistRating",
    "ArtistStar",
    "BulkEdit",
    "CoListen",
    "DashboardFigures",
    "Favourite",
    "ImportState",
    "Job",
    "JobState",
    "KeptDuplicates",
    "NowPlaying",
    "PlayEvent",
    "PlayQueue",
    "PlayQueueEntry",
    "Playlist",
    "PlaylistEntry",
    "PlaylistVisibility",
    "ResumableUpload",
    "Role",
    "RoleLimits",
    "SearchWord",
    "Setting",
    "StoredMixes",
    "Track",
    "TrackLike",
    "TrackRating",
    "TrackTag",
    "User",
    "Visibility",
]
