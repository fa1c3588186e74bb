"""The HTML pages for people (app/pages/), through the Flask test client: each page is
HTML under its strict CSP with no inline script or style, its scripts and styles are
served from this origin, the mailed links open them, and the API stays JSON.

The pages at work in a real browser: tests/test_pages_browser.py.
"""

import logging
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app.config import LINK_PAGES
from app.headers import SECURITY_HEADERS
from app.pages.routes import CONTENT_SECURITY_POLICY
from tests.support import PASSWORD, assert_error, make_app, token_in

PAGES = ["/login", "/register", "/account", "/reset", "/verify", "/confirm-email"]
STATIC = Path(__file__).resolve().parents[1] / "app" / "pages" / "static"


class Markup(HTMLParser):
    """What a page asks the browser to load or run (scripts, styles, inline code), and
    where its links go."""

    def __init__(self):
        super().__init__()
        self.scripts, self.styles, self.inline, self.links = [], [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a":
            self.links.append(attributes.get("href"))
        handlers = [name for name in attributes if name.startswith("on")]
        if handlers or "style" in attributes or tag == "style":
            self.inline.append((tag, attrs))
        if tag == "script":
            self._in_script = True
            self.scripts.append(attributes.get("src"))
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.styles.append(attributes["href"])
        if attributes.get("href", "").startswith("javascript:"):
            self.inline.append((tag, attrs))

    def handle_endtag(self, tag):
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline.append(("script", data))


def markup(response) -> Markup:
    parser = Markup()
    parser.feed(response.get_data(as_text=True))
    return parser


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A client of the service; the pages read nothing from the database."""
    database = tmp_path_factory.mktemp("pages") / "pages.db"
    return make_app(f"sqlite:///{database}").test_client()


@pytest.mark.parametrize("path", PAGES)
def test_each_page_is_html_under_the_strict_policy(pages, path):
    response = pages.get(path)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_page_policy_allows_nothing_but_this_origin():
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))

    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data: blob:"
    assert directives["frame-ancestors"] == directives["base-uri"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", PAGES)
def test_pages_have_no_inline_script_or_style(pages, path):
    page = markup(pages.get(path))

    assert page.inline == []
    assert page.scripts and all(page.scripts)  # each script from a file


@pytest.mark.parametrize("path", PAGES)
def test_every_script_and_style_is_served_from_this_origin(pages, path):
    page = markup(pages.get(path))

    for url in page.scripts + page.styles:
        assert url.startswith("/static/pages/"), url  # no CDN, nothing from elsewhere
        with pages.get(url) as response:
            assert response.status_code == 200, url
            assert response.mimetype in ("text/javascript", "text/css"), url


def test_every_module_a_script_imports_is_served(pages):
    for script in STATIC.glob("*.js"):
        for module in re.findall(r'from "\./([\w.-]+)"', script.read_text()):
            with pages.get(f"/static/pages/{module}") as response:
                assert response.status_code == 200, (script, module)


def test_no_script_stores_or_parses_html_from_the_service():
    """Tokens live in memory only (and the refresh token in its HttpOnly cookie); what the
    service says is shown as text, never parsed as HTML."""
    for script in STATIC.glob("*.js"):
        code = script.read_text()
        for forbidden in ("localStorage", "sessionStorage", "innerHTML", "outerHTML", "eval("):
            assert forbidden not in code, (script.name, forbidden)


def test_sign_in_and_sign_up_link_to_each_other(pages):
    assert "/register" in markup(pages.get("/login")).links
    assert "/login" in markup(pages.get("/register")).links


def test_the_api_keeps_its_own_policy(pages):
    response = pages.get("/healthz")

    assert (
        response.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    )
    assert response.is_json


def test_an_unknown_path_is_still_the_json_404(pages):
    assert_error(pages.get("/login/nothing"), 404, "not_found")
    assert_error(pages.get("/static/pages/missing.js"), 404, "not_found")


def test_pages_answer_other_methods_with_the_json_405(pages):
    assert_error(pages.post("/login", data={"email": "a@example.com"}), 405, "method_not_allowed")


def test_pages_are_not_in_the_api_document(pages):
    documented = pages.get("/openapi.json").json["paths"]

    assert not set(PAGES) & set(documented)


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_headed_by_the_name_authenticators_show(tmp_path, path):
    app = make_app(f"sqlite:///{tmp_path / 'a.db'}", WEBAUTHN_RP_NAME="Acme <Sign-in>")

    page = app.test_client().get(path).get_data(as_text=True)

    assert "· Acme &lt;Sign-in&gt;</title>" in page
    assert ">Acme &lt;Sign-in&gt;</a>" in page
    assert "<Sign-in>" not in page


def test_mailed_links_default_to_the_pages_under_public_url(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'a.db'}", PUBLIC_URL="https://auth.example.com")

    for name, page in LINK_PAGES.items():
        assert app.config[name] == "https://auth.example.com" + page


def test_a_link_template_that_is_set_still_wins(tmp_path):
    template = "https://app.example.com/account/reset/{token}"
    app = make_app(
        f"sqlite:///{tmp_path / 'a.db'}",
        PUBLIC_URL="https://auth.example.com",
        RESET_URL_TEMPLATE=template,
    )

    assert app.config["RESET_URL_TEMPLATE"] == template
    assert app.config["VERIFY_URL_TEMPLATE"] == "https://auth.example.com/verify?token={token}"


@pytest.fixture
def app_config(mail_config):
    return {**mail_config, "PUBLIC_URL": "https://auth.example.com"}


def test_the_mailed_reset_link_opens_the_reset_page(client, auth, smtp_server):
    auth.register()
    forgot = client.post("/auth/forgot-password", json={"email": "user@example.com"})
    assert forgot.status_code == 200

    template = "https://auth.example.com/reset?token={token}"
    token = token_in(smtp_server.bodies()[-1], template)
    page = client.get(f"/reset?token={token}")
    assert page.status_code == 200
    assert token not in page.get_data(as_text=True)  # the page's script reads it, not the server


def test_the_mailed_verification_link_opens_the_verify_page(client, smtp_server):
    body = {"email": "user@example.com", "password": PASSWORD}
    assert client.post("/auth/register", json=body).status_code == 201

    token = token_in(smtp_server.bodies()[-1], "https://auth.example.com/verify?token={token}")
    assert client.get(f"/verify?token={token}").status_code == 200


def test_a_token_in_a_page_address_is_not_logged(pages, caplog):
    caplog.set_level(logging.DEBUG)

    for path in ("/reset", "/verify", "/confirm-email"):
        assert pages.get(f"{path}?token=never-logged-token").status_code == 200

    assert "never-logged-token" not in caplog.text
