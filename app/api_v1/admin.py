"""Account administration for admin-scope tokens of admin accounts (the role
is read on every request): the same account rules as the admin pages (there
is always an active admin; disabling ends sessions and stops tokens at once),
and the upload limits of each role that uploads (the admin's Limits page)."""

from __future__ import annotations

from typing import Any

from app.api_v1 import schemas
from app.api_v1.auth import require_admin
from app.api_v1.common import BEARER, page_meta, protected
from app.models import Role, RoleLimits, User
from app.services import accounts
from app.services.errors import NotFound
from app.services.library import quotas
from app.unit_of_work import commit, retrying

bp = protected("v1_admin", "Accounts, for admin tokens", "/admin")
bp.before_request(require_admin)
REFUSED = {"schema": schemas.ErrorSchema, "description": "Not an admin token of an admin account"}


def admin_user_data(user: User, usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role.value,
        "created_at": user.created_at,
        "disabled": user.disabled,
        "quota_bytes": user.quota_bytes,
        "track_count": usage[0],
        "bytes_used": usage[1],
        "last_login_at": user.last_login_at,
    }


@bp.get("/users")
@bp.arguments(schemas.PageQuerySchema, location="query")
@bp.response(200, schemas.AdminUserListSchema)
@bp.alt_response(403, **REFUSED)
@bp.doc(security=BEARER)
def users(args: dict[str, Any]) -> dict[str, Any]:
    """Every account, by username, with its tracks and room used."""
    page = accounts.list_users(args["page"], per_page=args["limit"])
    usage = accounts.usage_for([u.id for u in page.items])
    return {
        "data": [admin_user_data(u, usage.get(u.id, (0, 0))) for u in page.items],
        "meta": page_meta(args["page"], args["limit"], page.total or 0),
    }


@bp.patch("/users/<int:user_id>")
@bp.arguments(schemas.AdminUserUpdateSchema)
@bp.response(200, schemas.AdminUserSchema)
@bp.alt_response(403, **REFUSED)
@bp.alt_response(404, schema=schemas.ErrorSchema, description="No such account")
@bp.alt_response(409, schema=schemas.ErrorSchema, description="It is the last active admin")
@bp.doc(security=BEARER)
def update_user(body: dict[str, Any], user_id: int) -> dict[str, Any]:
    """Change an account's role, disable or enable it, set its quota."""
    user = accounts.get_user(user_id)
    if "role" in body:
        accounts.set_role(user, Role(body["role"]))
    if "disabled" in body:
        accounts.set_disabled(user, body["disabled"])
    if "quota_bytes" in body:
        accounts.set_quota(user, body["quota_bytes"])
    commit()
    return admin_user_data(user, accounts.usage_for([user.id]).get(user.id, (0, 0)))


LIMITS = ("max_file_bytes", "max_duration_seconds", "monthly_uploads", "storage_bytes")


class RoleNotLimited(NotFound):
    """No such role, or one that cannot upload (listeners)."""

    code = "ROLE_NOT_FOUND"


def role_limits_data(row: RoleLimits) -> dict[str, Any]:
    return {"role": row.role.value, **{name: getattr(row, name) for name in LIMITS}}


@bp.get("/limits")
@bp.response(200, schemas.RoleLimitsListSchema)
@bp.alt_response(403, **REFUSED)
@bp.doc(security=BEARER)
def limits() -> dict[str, Any]:
    """The upload limits of each role that uploads (null: no limit)."""
    return {"data": [role_limits_data(quotas.role_limits(role)) for role in quotas.LIMITED_ROLES]}


@bp.patch("/limits/<role>")
@bp.arguments(schemas.RoleLimitsUpdateSchema)
@bp.response(200, schemas.RoleLimitsSchema)
@bp.alt_response(403, **REFUSED)
@bp.alt_response(404, schema=schemas.ErrorSchema, description="No such role, or one that cannot upload")
@bp.doc(security=BEARER)
def update_limits(body: dict[str, Any], role: str) -> dict[str, Any]:
    """Change a role's upload limits: the fields given (null removes a limit); they apply
    to the next upload of every account of the role."""
    chosen = next((r for r in quotas.LIMITED_ROLES if r.value == role), None)
    if chosen is None:
        raise RoleNotLimited(role=role)

    def change() -> RoleLimits:
        current = quotas.role_limits(chosen)
        values = {name: body[name] if name in body else getattr(current, name) for name in LIMITS}
        return quotas.set_role_limits(chosen, **values)

    # Two first changes of a role at once both add its row: the second runs again.
    return role_limits_data(retrying(change))
