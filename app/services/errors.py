"""Domain errors: what a request broke, as a stable code with the parameters a
message needs, and the HTTP status that fits.

Services never write sentences. Each surface renders an error in its own
dialect and language from `code` and `params`: pages and the player's API
through app/web/messages.py, the CLI the same way, later APIs with their own
error shapes. One registered handler (app/errors.py) answers any error a
route does not catch itself.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A rule the user's request broke. `code` names it (UPPER_SNAKE, stable:
    APIs expose it), `params` carry the figures a message shows."""

    code: str = "INVALID_REQUEST"
    status: ClassVar[int] = 400

    def __init__(self, code: str | None = None, /, **params: Any) -> None:
        self.code = code or type(self).code
        self.params = params
        super().__init__(self.code)

    def __str__(self) -> str:
        # For logs and tracebacks; users see the rendered message.
        return f"{self.code} {self.params}" if self.params else self.code


class NotFound(DomainError):
    """The object does not exist, or is another account's private object."""

    code = "NOT_FOUND"
    status = 404


class Forbidden(DomainError):
    """The object is visible to the user but theirs to change it is not."""

    code = "FORBIDDEN"
    status = 403
