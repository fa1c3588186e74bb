"""User administration for admins: list accounts, change a role, disable or enable."""

from app import users
from app.audit import audit_change
from app.extensions import db
from app.models import ADMIN
from app.schemas.requests import INT32_MAX, UserListQuery, UserUpdateSchema
from app.schemas.responses import AdminUserSchema, UserPageSchema
from app.security import current_user, login_required
from app.web.api import Blueprint

bp = Blueprint("admin", __name__, description="User administration (admins only)")


@bp.get("/users")
@bp.response(200, UserPageSchema)
@bp.bearer()
@login_required(role=ADMIN)
@bp.arguments(UserListQuery, location="query")
def list_users(query):
    """List accounts by id, a page at a time, optionally those whose email starts with `email`."""
    page, per_page = query["page"], query["per_page"]
    found, total = users.search(query["email"], (page - 1) * per_page, per_page)
    return {"users": found, "page": page, "per_page": per_page, "total": total}


# Ids beyond a 32-bit integer cannot exist; refusing them in the route keeps them out of SQL.
@bp.patch(f"/users/<int(max={INT32_MAX}):user_id>")
@bp.response(200, AdminUserSchema)
@bp.bearer(404, 409)
@login_required(role=ADMIN)
@bp.arguments(UserUpdateSchema)
def update_user(data, user_id: int):
    """Change an account's role and/or disabled flag, or turn its second factor off; it
    applies on the user's next request."""
    admin_id = current_user().id  # read before the commit expires it
    change = users.change(
        user_id,
        role=data.get("role"),
        disabled=data.get("disabled"),
        reset_mfa="mfa_enabled" in data,  # the schema takes only `false`
    )
    db.session.commit()
    audit_change(change, admin_id=admin_id)
    return change.user
