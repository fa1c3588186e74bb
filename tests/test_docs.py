"""The docs agree with the code and with themselves: the configuration table of
docs/api.md names exactly the settings of app/config.py with their defaults, and every
relative link of the README and docs/ resolves to a file or heading in the repository."""

import re
from pathlib import Path

import pytest

from app.config import SETTINGS, load_config
from tests.live import ROOT

API_PAGE = ROOT / "docs" / "api.md"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
CODE = re.compile(r"`([^`]*)`")


def prose(text: str) -> str:
    """The Markdown outside fenced code blocks."""
    return FENCE.sub("", text)


def configuration_rows() -> list[tuple[list[str], str]]:
    """(names, default cell) of each row of the table under "## Configuration"."""
    section = API_PAGE.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or cells[0] in ("variable", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append((CODE.findall(cells[0]), cells[1]))
    return rows


def documented(value) -> str:
    """A default as the table writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return ",".join(f"{name}:{item}" for name, item in value.items())
    return str(value)


def test_the_configuration_table_lists_exactly_the_settings():
    names = [name for row_names, _ in configuration_rows() for name in row_names]
    assert len(names) == len(set(names)), "a setting is listed twice"
    assert set(names) == {"APP_ENV", *SETTINGS}


def test_the_configuration_table_states_the_defaults_of_the_code():
    defaults = {name: default for name, (_, default) in SETTINGS.items()}
    defaults["APP_ENV"] = load_config({})["APP_ENV"]
    for names, cell in configuration_rows():
        values = CODE.findall(cell)
        if len(values) == 1:
            values *= len(names)
        for position, name in enumerate(names):
            default = defaults[name]
            if default is None:
                continue  # unset: the cell says what happens instead (generated, a file...)
            if values:
                assert values[position] == documented(default), name
            else:
                assert cell == "empty" and documented(default) == "", name


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = LINK.sub("]", heading)  # a link in a heading anchors by its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(prose(page.read_text())):
        base = slug(heading)
        anchor, number = base, 0
        while anchor in found:
            number += 1
            anchor = f"{base}-{number}"
        found.add(anchor)
    return found


def test_slugs_follow_githubs_rules():
    assert slug("Tokens other services can verify (RS256/ES256)") == (
        "tokens-other-services-can-verify-rs256es256"
    )
    assert slug("4. Start gunicorn (on every host)") == "4-start-gunicorn-on-every-host"
    assert slug("`flask users` commands") == "flask-users-commands"
    assert slug("`RATELIMIT_STORAGE_URI` and [Redis](https://redis.io)") == (
        "ratelimit_storage_uri-and-redis"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(page):
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto: ...: not a path
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert not target.startswith("/"), f"{target} in {page.name} is an absolute path"
        assert linked.is_relative_to(ROOT), f"{target} in {page.name} leaves the repository"
        assert linked.exists(), f"{target} in {page.name}: no such file"
        if anchor:
            assert linked.suffix == ".md", f"{target} in {page.name}: an anchor into a non-page"
            assert anchor in anchors(linked), f"{target} in {page.name}: no such heading"
