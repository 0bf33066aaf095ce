"""Music Cloud.

`create_app` lives in app/factory.py and is imported on first call, so that
`import app.services.tags` in a tag-parser process stays light: it does not
pull in Flask, SQLAlchemy and every blueprint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(*args: Any, **kwargs: Any) -> Flask:
    from app.factory import create_app as factory  # noqa: PLC0415 - see the module docstring

    return factory(*args, **kwargs)
