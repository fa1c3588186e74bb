"""The pages for people in a real browser: headless Chromium (tests/browser.py) against the
service under gunicorn, mailing through a real SMTP server, reached as http://localhost
(a secure context, as the Secure and __Host- cookies need).

A person signs up, signs in with a password and with the TOTP step, enrolls TOTP from the
QR code and renews the recovery codes, resets a forgotten password from the mailed link,
confirms their address, ends another session, signs out, and deletes the account; the
browser itself keeps the cookies and makes the CSRF proof.
Each page is saved as a screenshot under test-output/screenshots/.
"""

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from aiosmtpd.controller import Controller
from selenium.webdriver.common.by import By

from tests.browser import binaries, chromium
from tests.live import call, gunicorn_process, migrate, service_env, wait_for
from tests.mfa_support import code
from tests.support import PASSWORD, Mailbox, free_port, token_in

NEW_PASSWORD = "a brand new passphrase"


@dataclass
class Service:
    base: str  # http://localhost:PORT, the PUBLIC_URL the browser uses
    api: str  # the same service at http://127.0.0.1:PORT, for the test's own calls
    mailbox: Mailbox
    log: Path

    def signup(self, email: str, password: str = PASSWORD) -> None:
        body = {"email": email, "password": password}
        assert call(self.api, "POST", "/auth/register", body)[0] == 201

    def login(self, email: str, password: str = PASSWORD) -> tuple[int, dict]:
        status, _, answer = call(
            self.api, "POST", "/auth/login", {"email": email, "password": password}
        )
        return status, answer

    def recovery_code_works(self, email: str, recovery_code: str) -> bool:
        """Whether a password login of `email` completes with `recovery_code`."""
        status, challenge = self.login(email)
        assert status == 200 and challenge["mfaRequired"]
        body = {"mfaToken": challenge["mfaToken"], "recoveryCode": recovery_code}
        status, _, _ = call(self.api, "POST", "/auth/mfa/verify", body)
        assert status in (200, 401), status
        return status == 200

    def me(self, access_token: str) -> int:
        return call(self.api, "GET", "/me", headers={"Authorization": f"Bearer {access_token}"})[0]

    def links(self, to: str, page: str) -> list[str]:
        """The bodies of the mails to `to` with a link to `page`, oldest first."""
        return [
            message.get_content()
            for message in self.mailbox.messages
            if message["To"] == to and f"{self.base}{page}?token=" in message.get_content()
        ]

    def refreshes(self) -> int:
        """How many refreshes the service has answered so far (its access log)."""
        lines = self.log.read_text(errors="replace").splitlines()
        records = [json.loads(line) for line in lines if line.startswith('{"log": "access"')]
        return sum(record["path"] == "/auth/refresh" for record in records)

    def mailed_token(self, to: str, page: str) -> str:
        """The token of the newest link to `page` mailed to `to`."""
        newest = wait_for(lambda: self.links(to, page), f"a mail to {to}")[-1]
        return token_in(newest, f"{self.base}{page}?token={{token}}")


@contextmanager
def running_service(directory: Path, **settings: str):
    """The service under gunicorn at http://localhost:PORT, mailing to a real SMTP server."""
    binaries()  # skip (or fail under CI) before starting anything
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    # Chromium refuses an IP address as a WebAuthn RP id, and treats localhost (not
    # 127.0.0.1) as the secure origin where Secure cookies work over http.
    base = f"http://localhost:{port}"
    env = service_env(
        DATABASE_URL=f"sqlite:///{directory / 'auth.db'}",
        PUBLIC_URL=base,
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        **settings,
    )
    migrate(env)
    log = directory / "gunicorn.log"
    try:
        with gunicorn_process(env, workers=2, log=log, port=port) as (_, api):
            yield Service(base=base, api=api, mailbox=mailbox, log=log)
    finally:
        smtp.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    # A new verification link may be asked for at once (the account page's button).
    directory = tmp_path_factory.mktemp("browser")
    with running_service(directory, VERIFY_RESEND_INTERVAL="0") as service:
        yield service


@pytest.fixture(scope="module")
def strict_service(tmp_path_factory):
    """A service that keeps an account out until its address is verified."""
    directory = tmp_path_factory.mktemp("strict")
    settings = {"REQUIRE_EMAIL_VERIFICATION": "true", "VERIFY_RESEND_INTERVAL": "0"}
    with running_service(directory, **settings) as service:
        yield service


@pytest.fixture
def browser():
    with chromium() as browser:
        yield browser
        assert browser.csp_refusals() == []  # the pages run entirely under their policy


def sign_in(browser, service, email, password=PASSWORD):
    browser.open(f"{service.base}/login")
    browser.fill("email", email)
    browser.fill("password", password)
    browser.click_submit("password-form")


def assert_signed_in_as(browser, email):
    browser.at("/account")
    browser.says("profile-email", email)


def signed_in(browser, service, email):
    """Sign in as `email` (password only) and wait for the account page to show it."""
    sign_in(browser, service, email)
    assert_signed_in_as(browser, email)


def confirm_from_link(browser, service, page, token, screenshot) -> str:
    """Open the mailed link of `page`, press its button; the page's notice. Opening spends
    nothing (a mail scanner that opens the link is harmless): the button press does."""
    browser.open(f"{service.base}{page}?token={token}")
    browser.visible("confirm-button")
    assert browser.path() == page  # the token is out of the address bar and history
    browser.screenshot(screenshot)
    browser.click("confirm-button")
    notice = browser.visible("confirm-notice").text
    browser.screenshot(f"{screenshot}-done")
    return notice


def test_sign_in_with_a_password_then_sign_out(browser, service):
    service.signup("pat@example.com")
    browser.open(f"{service.base}/login")
    browser.screenshot("login")

    sign_in(browser, service, "pat@example.com", "not the password")
    error = browser.says("password-error", "Invalid email or password")
    assert browser.focused() == "password-error"  # read out at once by a screen reader
    browser.screenshot("login-error")
    assert error

    signed_in(browser, service, "pat@example.com")
    browser.says("sessions-list", "This device")
    browser.screenshot("account")
    assert browser.text("profile-verified") == "Not yet"
    sent = len(service.links("pat@example.com", "/verify"))
    browser.click("resend-verification")
    browser.says("profile-notice", "A new verification link has been sent.")
    wait_for(lambda: len(service.links("pat@example.com", "/verify")) > sent, "a new link")
    assert browser.web_storage() == 0  # the access token lives in the page's memory only

    browser.click("sign-out")
    browser.at("/login")
    assert not {"__Secure-refresh_token", "__Host-csrf_token"} & set(browser.cookies())
    browser.open(f"{service.base}/account")
    browser.at("/login")  # no session any more: the account page sends the person to sign in


def test_the_browser_keeps_the_refresh_cookie_and_makes_the_csrf_proof(browser, service):
    service.signup("casey@example.com")
    signed_in(browser, service, "casey@example.com")

    cookies = browser.cookies()
    refresh = cookies["__Secure-refresh_token"]
    assert (refresh["httpOnly"], refresh["secure"], refresh["sameSite"], refresh["path"]) == (
        True,
        True,
        "Strict",
        "/auth",
    )
    proof = cookies["__Host-csrf_token"]
    assert (proof["httpOnly"], proof["secure"], proof["sameSite"], proof["path"]) == (
        False,
        True,
        "Strict",
        "/",
    )
    assert browser.driver.execute_script("return document.cookie").find("refresh_token") == -1

    # The browser sends the refresh cookie by itself; without the proof it is refused...
    refused = browser.fetch("POST", "/auth/refresh")
    assert refused["status"] == 403
    assert '"csrf_failed"' in refused["body"]
    # ...and changed nothing: the page refreshes with its proof, as every load does.
    browser.open(f"{service.base}/account")
    assert_signed_in_as(browser, "casey@example.com")
    assert browser.cookies()["__Secure-refresh_token"]["value"] != refresh["value"]  # rotated


def shown_recovery_codes(browser) -> list[str]:
    items = browser.visible("mfa-codes-list").find_elements(By.TAG_NAME, "li")
    return [item.text for item in items]


def enroll_totp(browser) -> tuple[str, list[str]]:
    """Turn TOTP on from the account page, as a person with an authenticator app does;
    the secret, and the recovery codes the page shows."""
    browser.says("mfa-status", "Off")
    browser.click("mfa-start")
    qr = browser.visible("mfa-qr")
    assert qr.get_attribute("src").startswith("blob:")  # the SVG as an image, not as markup
    browser.wait(lambda _: qr.get_property("naturalWidth") > 0, "the QR code to be drawn")
    secret = browser.text("mfa-secret")
    browser.screenshot("account-totp-qr")
    browser.fill("mfa-enroll-code", code(secret, now=datetime.now(UTC)))
    browser.click_submit("mfa-enroll-form")
    browser.says("mfa-status", "On")
    recovery_codes = shown_recovery_codes(browser)
    assert len(recovery_codes) == 10
    return secret, recovery_codes


def test_enroll_totp_then_sign_in_with_the_code(browser, service):
    service.signup("robin@example.com")
    signed_in(browser, service, "robin@example.com")
    secret, recovery_codes = enroll_totp(browser)
    browser.screenshot("account-totp-recovery-codes")

    browser.click("sign-out")
    browser.at("/login")
    sign_in(browser, service, "robin@example.com")
    browser.visible("mfa-form")
    assert browser.focused() == "code"
    browser.screenshot("login-totp")
    # The next step's code: the one that turned MFA on cannot be used again.
    browser.fill("code", code(secret, steps=1, now=datetime.now(UTC)))
    browser.click_submit("mfa-form")
    assert_signed_in_as(browser, "robin@example.com")

    browser.fill("mfa-disable-code", recovery_codes[0])
    browser.click_submit("mfa-disable-form")
    browser.says("mfa-status", "Off")
    assert service.login("robin@example.com")[1]["accessToken"]  # no second step any more


def test_get_new_recovery_codes_and_the_old_ones_stop_working(browser, service):
    service.signup("noa@example.com")
    signed_in(browser, service, "noa@example.com")
    _, old_codes = enroll_totp(browser)

    browser.fill("mfa-renew-code", "not-a-code")
    browser.click_submit("mfa-renew-form")
    browser.visible("mfa-renew-error")
    assert browser.focused() == "mfa-renew-error"
    assert shown_recovery_codes(browser) == old_codes  # nothing changed

    browser.fill("mfa-renew-code", old_codes[0])  # a recovery code proves the factor too
    browser.click_submit("mfa-renew-form")
    browser.says("mfa-codes-notice", "the old ones no longer work")
    assert browser.focused() == "mfa-codes-notice"  # read out, with the codes after it
    new_codes = shown_recovery_codes(browser)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    browser.screenshot("account-totp-new-recovery-codes")

    assert not service.recovery_code_works("noa@example.com", old_codes[1])
    assert service.recovery_code_works("noa@example.com", new_codes[0])
    browser.open(f"{service.base}/account")  # shown once: a new load has no codes to show
    browser.says("mfa-status", "On")
    assert not browser.driver.find_element(By.ID, "mfa-codes").is_displayed()


def test_reset_a_forgotten_password_from_the_mailed_link(browser, service):
    service.signup("sam@example.com")
    browser.open(f"{service.base}/login")
    browser.click_link("Forgot your password?")
    browser.at("/reset")
    browser.fill("email", "sam@example.com")
    browser.click_submit("forgot-form")
    browser.says("forgot-notice", "If that account exists, a reset link was sent")
    browser.screenshot("reset-request")

    token = service.mailed_token("sam@example.com", "/reset")
    browser.open(f"{service.base}/reset?token={token}")
    browser.visible("reset-form")
    assert browser.path() == "/reset"  # the token is out of the address bar and history
    browser.screenshot("reset")
    browser.fill("password", NEW_PASSWORD)
    browser.click_submit("reset-form")
    browser.says("reset-notice", "Password updated")
    browser.screenshot("reset-done")

    assert service.login("sam@example.com")[0] == 401
    assert service.login("sam@example.com", NEW_PASSWORD)[0] == 200
    assert token not in service.log.read_text()  # nor in the access log


def test_confirm_an_address_from_the_mailed_link_by_a_button(browser, service):
    service.signup("alex@example.com")
    token = service.mailed_token("alex@example.com", "/verify")

    assert confirm_from_link(browser, service, "/verify", token, "verify") == (
        "Email address verified."
    )
    assert token not in service.log.read_text()


def test_change_the_address_and_confirm_it_from_the_mailed_link(browser, service):
    service.signup("jo@example.com")
    signed_in(browser, service, "jo@example.com")
    browser.fill("new-email", "jo.new@example.com")
    browser.fill("email-password", PASSWORD)
    browser.click_submit("email-form")
    browser.says("email-notice", "confirmation link was sent")

    token = service.mailed_token("jo.new@example.com", "/confirm-email")
    notice = confirm_from_link(browser, service, "/confirm-email", token, "confirm-email")
    assert "Sign in with the new address" in notice

    signed_in(browser, service, "jo.new@example.com")


def test_end_another_session_from_the_account_page(browser, service):
    service.signup("kim@example.com")
    status, other = service.login("kim@example.com")  # another device
    assert status == 200 and service.me(other["accessToken"]) == 200
    other_session = jwt.decode(other["accessToken"], options={"verify_signature": False})["sid"]

    signed_in(browser, service, "kim@example.com")
    row = f'#sessions-list li[data-session-id="{other_session}"] button'
    browser.wait(lambda driver: driver.find_elements(By.CSS_SELECTOR, row), "the other session")
    browser.screenshot("account-sessions")
    browser.driver.find_element(By.CSS_SELECTOR, row).click()
    browser.says("sessions-notice", "The session has ended.")

    assert service.me(other["accessToken"]) == 401  # that device is signed out at once
    status, _, _ = call(
        service.api, "POST", "/auth/refresh", {"refreshToken": other["refreshToken"]}
    )
    assert status == 401
    assert len(browser.driver.find_elements(By.CSS_SELECTOR, "#sessions-list li")) == 1


def test_delete_the_account_after_confirming_it(browser, service):
    service.signup("dee@example.com")
    status, other = service.login("dee@example.com")  # another device
    assert status == 200
    signed_in(browser, service, "dee@example.com")
    refresh_token = browser.cookies()["__Secure-refresh_token"]["value"]

    browser.click("delete-start")  # nothing is deleted yet: the confirmation opens
    assert browser.focused() == "delete-password"
    browser.screenshot("account-delete")
    browser.click("delete-cancel")
    browser.gone("delete-form")
    assert browser.focused() == "delete-start"

    browser.click("delete-start")
    browser.fill("delete-password", "not the password")
    browser.click_submit("delete-form")
    browser.says("delete-error", "The password is incorrect.")
    assert browser.focused() == "delete-error"
    assert service.me(other["accessToken"]) == 200  # still there

    browser.fill("delete-password", PASSWORD)
    browser.click_submit("delete-form")
    browser.at("/login")  # and the message's parameter is out of the address
    browser.says("login-notice", "Your account has been deleted.")
    browser.screenshot("login-account-deleted")
    assert not {"__Secure-refresh_token", "__Host-csrf_token"} & set(browser.cookies())
    refreshed = call(service.api, "POST", "/auth/refresh", {"refreshToken": refresh_token})
    assert refreshed[0] == 401  # the cookie the browser held is dead as well as gone
    assert service.me(other["accessToken"]) == 401
    assert service.login("dee@example.com")[0] == 401


def test_the_pages_fit_a_phone_screen(service):
    service.signup("lee@example.com")
    with chromium(width=375, height=812) as phone:
        for path in ("/login", "/register", "/reset", "/verify?token=x", "/confirm-email?token=x"):
            phone.open(f"{service.base}{path}")
            phone.visible("main")
            assert not phone.overflows(), path
        signed_in(phone, service, "lee@example.com")
        assert not phone.overflows()
        phone.screenshot("account-375px")


def test_change_the_password_then_sign_out_everywhere(browser, service):
    service.signup("ash@example.com")
    status, other = service.login("ash@example.com")
    assert status == 200
    signed_in(browser, service, "ash@example.com")

    browser.fill("current-password", PASSWORD)
    browser.fill("new-password", NEW_PASSWORD)
    browser.click_submit("password-form")
    browser.says("password-notice", "Password changed")
    assert service.me(other["accessToken"]) == 401  # the other device is signed out
    # This page goes on in the session the change opened, from its new cookie.
    browser.open(f"{service.base}/account")
    assert_signed_in_as(browser, "ash@example.com")

    browser.click("end-all")
    browser.at("/login")
    assert service.login("ash@example.com")[0] == 401
    assert service.login("ash@example.com", NEW_PASSWORD)[0] == 200
    browser.open(f"{service.base}/account")
    browser.at("/login")


def confirm_a_second_link(browser, service, email: str, first: str) -> None:
    """After the page asked for a new verification link: it comes, the first one was
    not reused, and it confirms the address."""
    wait_for(lambda: len(service.links(email, "/verify")) > 1, "a second link")
    token = service.mailed_token(email, "/verify")
    assert token != first
    assert confirm_from_link(browser, service, "/verify", token, "verify-again") == (
        "Email address verified."
    )


def test_an_unverified_account_asks_for_a_new_link_from_the_sign_in_page(browser, strict_service):
    strict_service.signup("val@example.com")
    first = strict_service.mailed_token("val@example.com", "/verify")
    sign_in(browser, strict_service, "val@example.com")
    browser.says("password-error", "Confirm your email address")
    browser.click("resend-verification")
    browser.says("password-notice", "verification link")
    browser.screenshot("login-unverified")

    confirm_a_second_link(browser, strict_service, "val@example.com", first)
    signed_in(browser, strict_service, "val@example.com")


def test_sign_up_then_land_on_the_account_page(browser, service):
    browser.open(f"{service.base}/login")
    browser.click_link("Create an account")
    browser.at("/register")
    browser.screenshot("register")

    browser.fill("email", "uma@example.com")
    browser.fill("password", "password1")  # too common: the service's policy says so
    browser.click_submit("register-form")
    browser.says("password-problem", "too common")
    browser.says("register-error", "Correct the field marked below.")
    assert browser.focused() == "register-error"
    field = browser.driver.find_element(By.ID, "password")
    assert field.get_attribute("aria-invalid") == "true"
    assert "password-problem" in field.get_attribute("aria-describedby")  # read with it
    browser.screenshot("register-error")

    browser.fill("password", PASSWORD)
    browser.click_submit("register-form")
    assert_signed_in_as(browser, "uma@example.com")
    assert browser.text("profile-verified") == "Not yet"
    assert service.links("uma@example.com", "/verify")  # the verification link went out

    browser.click("sign-out")
    browser.at("/login")
    browser.click_link("Create an account")
    browser.fill("email", "UMA@example.com")
    browser.fill("password", PASSWORD)
    browser.click_submit("register-form")
    browser.says("register-error", "already exists")
    browser.click_link("Sign in")
    browser.at("/login")


def test_sign_up_where_the_address_must_be_confirmed_first(browser, strict_service):
    browser.open(f"{strict_service.base}/register")
    browser.fill("email", "una@example.com")
    browser.fill("password", PASSWORD)
    browser.click_submit("register-form")
    browser.says("registered-notice", "We mailed a link to una@example.com")
    assert browser.focused() == "registered-notice"
    assert not {"__Secure-refresh_token", "__Host-csrf_token"} & set(browser.cookies())
    browser.screenshot("register-unverified")
    first = strict_service.mailed_token("una@example.com", "/verify")

    browser.click("resend-verification")
    browser.says("registered-notice", "a verification link has been sent")
    confirm_a_second_link(browser, strict_service, "una@example.com", first)
    signed_in(browser, strict_service, "una@example.com")


def test_the_sign_in_page_of_a_signed_in_browser_goes_on_to_the_account(browser, service):
    service.signup("rio@example.com")
    signed_in(browser, service, "rio@example.com")
    browser.says("sessions-list", "This device")
    before = service.refreshes()

    browser.open(f"{service.base}/login")
    assert_signed_in_as(browser, "rio@example.com")
    browser.says("sessions-list", "This device")
    assert service.refreshes() == before + 1  # the account page's own: /login spent none

    # Every session ends elsewhere: the browser's cookies stay, but its session is dead.
    status, other = service.login("rio@example.com")
    assert status == 200
    bearer = {"Authorization": f"Bearer {other['accessToken']}"}
    assert call(service.api, "POST", "/auth/logout-all", headers=bearer)[0] == 204
    browser.open(f"{service.base}/login")
    browser.wait(lambda _: "__Host-csrf_token" not in browser.cookies(), "it to be forgotten")
    browser.at("/login")
    browser.visible("password-form")  # and it stays: no loop between the two pages
    assert browser.path() == "/login"
    signed_in(browser, service, "rio@example.com")


def test_add_a_passkey_then_sign_in_with_it_without_a_password(browser, service):
    authenticator = browser.virtual_authenticator()
    service.signup("pip@example.com")
    signed_in(browser, service, "pip@example.com")
    browser.says("passkeys-none", "no passkeys")

    browser.fill("passkey-name", "Laptop")
    browser.click_submit("passkey-form")
    browser.says("passkeys-notice", "The passkey Laptop was added.")
    assert "not used yet" in browser.says("passkeys-list", "Laptop")
    [held] = browser.passkeys_held(authenticator)
    assert held["isResidentCredential"]  # discoverable: signing in asks for no email
    browser.screenshot("account-passkeys")

    browser.click("sign-out")
    browser.at("/login")
    browser.screenshot("login-passkey")
    browser.click("passkey-sign-in")  # no email, no password
    assert_signed_in_as(browser, "pip@example.com")
    browser.says("passkeys-list", "last used")

    remove = "#passkeys-list li button"
    browser.wait(lambda driver: driver.find_elements(By.CSS_SELECTOR, remove), "Remove")
    browser.driver.find_element(By.CSS_SELECTOR, remove).click()
    browser.says("passkeys-notice", "The passkey Laptop was removed.")
    browser.visible("passkeys-none")

    browser.click("sign-out")
    browser.at("/login")
    browser.click("passkey-sign-in")  # the authenticator still holds it; the service does not
    browser.visible("password-error")
    assert browser.focused() == "password-error"
    assert browser.path() == "/login"
