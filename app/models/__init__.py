"""Models, one module per domain; importing this package registers every table."""

from app.models.settings import Setting
from app.models.user import Role, User

__all__ = ["Role", "Setting", "User"]
