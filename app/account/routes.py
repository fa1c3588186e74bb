"""The signed-in user's own account."""

from flask import Blueprint

from app.security import current_user, login_required

bp = Blueprint("account", __name__)


@bp.get("")
@login_required
def me():
    """Return the caller's account."""
    user = current_user()
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "emailVerified": user.email_verified,
        "createdAt": user.created_at.isoformat().replace("+00:00", "Z"),
    }
