"""A real headless Chromium, driven by Selenium, for the tests of the pages for people.

Debian's `chromium` and `chromium-driver` packages (apt): without them the browser tests
skip with the reason, and under CI they fail. Each browser starts with a fresh profile
(no cookies, no cache) and without network prediction, so that Chromium fetches nothing
the test did not ask for: a prefetched link could spend a one-time token.
"""

import base64
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.support import service_missing

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
WAIT_SECONDS = 15
APT = "apt-get install -y chromium chromium-driver"


def binaries() -> tuple[str, str]:
    """The chromium and chromedriver executables; skip (or fail under CI) without them."""
    found = []
    for names in (("chromium", "chromium-browser"), ("chromedriver",)):
        path = next(filter(None, (shutil.which(name) for name in names)), None)
        if path is None:
            service_missing(names[0], "not installed", APT)
        found.append(path)
    return found[0], found[1]


@contextmanager
def chromium(width: int = 1280, height: int = 900):
    """A headless Chromium with a fresh profile; the `Browser` driving it."""
    browser, driver_path = binaries()
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for argument in (
            "--headless=new",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--no-sandbox",  # containers and CI run as root, where the sandbox cannot start
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
        ):
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"net.network_prediction_options": 2})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # for csp_refusals
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
        try:
            yield Browser(driver)
        finally:
            driver.quit()


class Browser:
    """The few things the tests do with a page, by element id, each waiting for the page."""

    def __init__(self, driver: webdriver.Chrome):
        self.driver = driver

    def open(self, url: str) -> None:
        self.driver.get(url)

    def wait(self, condition, what: str):
        try:
            return WebDriverWait(self.driver, WAIT_SECONDS).until(condition)
        except TimeoutException:
            raise AssertionError(
                f"gave up after {WAIT_SECONDS}s waiting for {what} on {self.driver.current_url}"
                f"\nconsole: {self.console()}"
            ) from None

    def visible(self, element_id: str):
        return self.wait(
            expected_conditions.visibility_of_element_located((By.ID, element_id)),
            f"#{element_id} to show",
        )

    def gone(self, element_id: str) -> None:
        self.wait(
            expected_conditions.invisibility_of_element_located((By.ID, element_id)),
            f"#{element_id} to hide",
        )

    def fill(self, element_id: str, text: str) -> None:
        field = self.visible(element_id)
        field.clear()
        field.send_keys(text)

    def click(self, element_id: str) -> None:
        self.wait(
            expected_conditions.element_to_be_clickable((By.ID, element_id)),
            f"#{element_id} to be clickable",
        ).click()

    def click_submit(self, form_id: str) -> None:
        """Press the submit button of #form_id, as a person would."""
        self.wait(
            expected_conditions.element_to_be_clickable(
                (By.CSS_SELECTOR, f'#{form_id} button[type="submit"]')
            ),
            f"the button of #{form_id}",
        ).click()

    def click_link(self, text: str) -> None:
        self.wait(
            expected_conditions.element_to_be_clickable((By.LINK_TEXT, text)), f"a link {text!r}"
        ).click()

    def text(self, element_id: str) -> str:
        return self.visible(element_id).text

    def says(self, element_id: str, words: str) -> str:
        """Wait until #element_id shows `words`; its whole text."""
        self.wait(
            expected_conditions.text_to_be_present_in_element((By.ID, element_id), words),
            f"#{element_id} to say {words!r}",
        )
        return self.text(element_id)

    def at(self, path: str) -> None:
        self.wait(lambda driver: self.path() == path, f"the page {path}")

    def path(self) -> str:
        return self.driver.execute_script("return location.pathname + location.search")

    def focused(self) -> str:
        return self.driver.execute_script("return document.activeElement.id")

    def fetch(self, method: str, path: str, headers: dict | None = None) -> dict:
        """A request made by the page's own script: the browser adds cookies (and leaves
        them out) by its own rules. Returns {status, body}."""
        return self.driver.execute_async_script(
            """
            const [method, path, headers, done] = arguments;
            fetch(path, {method, headers, credentials: "same-origin"})
              .then(async (r) => done({status: r.status, body: await r.text()}))
              .catch((e) => done({status: 0, body: String(e)}));
            """,
            method,
            path,
            headers or {},
        )

    def virtual_authenticator(self) -> str:
        """Give this tab a platform authenticator that holds passkeys and verifies the
        user at once (DevTools' WebAuthn domain); its id."""
        self.driver.execute_cdp_cmd("WebAuthn.enable", {"enableUI": False})
        options = {
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": True,
            "hasUserVerification": True,
            "isUserVerified": True,
            "automaticPresenceSimulation": True,
        }
        added = self.driver.execute_cdp_cmd(
            "WebAuthn.addVirtualAuthenticator", {"options": options}
        )
        return added["authenticatorId"]

    def passkeys_held(self, authenticator: str) -> list[dict]:
        """The credentials the virtual authenticator holds."""
        return self.driver.execute_cdp_cmd(
            "WebAuthn.getCredentials", {"authenticatorId": authenticator}
        )["credentials"]

    def csp_refusals(self) -> list[str]:
        """What the Content-Security-Policy blocked so far, from the console."""
        return [line for line in self.console() if "Content Security Policy" in line]

    def console(self) -> list:
        try:
            return [entry["message"] for entry in self.driver.get_log("browser")]
        except WebDriverException:  # diagnostics only: not every driver keeps this log
            return []

    def screenshot(self, name: str) -> None:
        """Save the whole page (not only the window) as test-output/screenshots/<name>.png,
        for review."""
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip}
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))

    def cookies(self) -> dict[str, dict]:
        """Every cookie the browser keeps, by name, whatever its path (WebDriver's own
        call lists only those of the current page's path)."""
        found = self.driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
        return {cookie["name"]: cookie for cookie in found}

    def web_storage(self) -> int:
        return self.driver.execute_script("return localStorage.length + sessionStorage.length")

    def overflows(self) -> bool:
        """Whether the page is wider than the window (a phone would scroll sideways)."""
        return self.driver.execute_script(
            "return document.documentElement.scrollWidth > window.innerWidth"
        )
