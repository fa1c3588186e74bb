"""The signed-in user's own account."""

from flask import Blueprint

from app.security import current_user, login_required

bp = Blueprint("account", __name__)


@bp.get("")
@login_required
def me():
    """Return the caller's account."""
    return current_user().to_json()
