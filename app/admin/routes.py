"""User administration for admins: list accounts, change a role, disable or enable."""

from flask import Blueprint

from app import users
from app.audit import audit_change
from app.extensions import db
from app.models import ADMIN, User
from app.schemas import INT32_MAX, UserListQuery, UserUpdateSchema, load_body, load_query
from app.security import current_user, login_required

bp = Blueprint("admin", __name__)


def _user_json(user: User) -> dict:
    return {**user.to_json(), "disabled": user.disabled}


@bp.get("/users")
@login_required(role=ADMIN)
def list_users():
    """List accounts by id, a page at a time, optionally those whose email starts with `email`."""
    query = load_query(UserListQuery())
    page, per_page = query["page"], query["per_page"]
    found, total = users.search(query["email"], (page - 1) * per_page, per_page)
    return {
        "users": [_user_json(user) for user in found],
        "page": page,
        "perPage": per_page,
        "total": total,
    }


# Ids beyond a 32-bit integer cannot exist; refusing them in the route keeps them out of SQL.
@bp.patch(f"/users/<int(max={INT32_MAX}):user_id>")
@login_required(role=ADMIN)
def update_user(user_id: int):
    """Change an account's role and/or disabled flag, or turn its second factor off; it
    applies on the user's next request."""
    data = load_body(UserUpdateSchema())
    admin_id = current_user().id  # read before the commit expires it
    change = users.change(
        user_id,
        role=data.get("role"),
        disabled=data.get("disabled"),
        reset_mfa="mfa_enabled" in data,  # the schema takes only `false`
    )
    db.session.commit()
    audit_change(change, admin_id=admin_id)
    return _user_json(change.user)
