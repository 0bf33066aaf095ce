"""Models, one module per domain; importing this package registers every table."""

from app.models.library import Album, Artist, Track, Visibility
from app.models.settings import Setting
from app.models.user import Role, User

__all__ = ["Album", "Artist", "Role", "Setting", "Track", "User", "Visibility"]
