"""GET /login, /register, /account, /reset, /verify and /confirm-email: the pages people use.

Each page is a template and its scripts; nothing about the user or a token is rendered on
the server (the scripts read the token from the address and call the API). The pages get
a strict Content-Security-Policy of their own: scripts, styles and requests to this origin
only, images also from `data:` and `blob:` (the TOTP QR code), and no inline script or
style at all. The API keeps the headers of app/headers.py.
"""

from flask import Blueprint, render_template

bp = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/pages",
)

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # /reset, /verify and /confirm-email carry a live token in their address: no request
    # the page makes may pass it on in a Referer.
    "Referrer-Policy": "no-referrer",
}


def _page(template: str):
    return render_template(f"pages/{template}"), 200, PAGE_HEADERS


@bp.get("/login")
def login():
    """Sign in: email and password, then the second factor when the account has one."""
    return _page("login.html")


@bp.get("/register")
def register():
    """Sign up with an email and a password, then sign in (or wait for the mailed link)."""
    return _page("register.html")


@bp.get("/account")
def account():
    """The signed-in person's account: profile, sessions, second factor, password."""
    return _page("account.html")


@bp.get("/reset")
def reset():
    """Ask for a reset link; with the mailed `?token=`, choose a new password."""
    return _page("reset.html")


@bp.get("/verify")
def verify():
    """Confirm the address a verification link was mailed to (by a button press)."""
    return _page("verify.html")


@bp.get("/confirm-email")
def confirm_email():
    """Confirm an email change from the link mailed to the new address."""
    return _page("confirm-email.html")
