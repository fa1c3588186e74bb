"""docs/walkthrough.md runs as written: its `bash` blocks, in order, in one shell, against
the service under gunicorn, with the server's console output as the mailbox."""

import re
import shutil
import subprocess

from tests.live import ROOT, gunicorn, migrate, service_env
from tests.support import service_missing

WALKTHROUGH = ROOT / "docs" / "walkthrough.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.S | re.M)


def walkthrough_blocks() -> list[str]:
    return BLOCK.findall(WALKTHROUGH.read_text())


def script(blocks: list[str]) -> str:
    """One bash script of every block, each followed by a line saying it finished."""
    parts = ["set -euo pipefail"]
    for number, block in enumerate(blocks, 1):
        parts += [block, f"echo 'walkthrough: block {number} done'"]
    return "\n".join(parts)


def test_walkthrough_runs_top_to_bottom_against_a_live_service(tmp_path):
    tools = {tool: shutil.which(tool) for tool in ("bash", "curl", "jq")}
    if missing := [tool for tool, path in tools.items() if path is None]:
        install = "apt-get install " + " ".join(missing)
        service_missing(" and ".join(missing), "not installed", install)
    blocks = walkthrough_blocks()
    assert len(blocks) >= 8, "docs/walkthrough.md lost its bash blocks"
    log = tmp_path / "auth.log"
    # As `make run` serves it (mail in the background, rate limits on), and with
    # verification required, so the walkthrough must verify before it logs in.
    env = service_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'auth.db'}",
        MAIL_BACKEND="console",
        MAIL_ASYNC="true",
        RATELIMIT_ENABLED="true",
        REQUIRE_EMAIL_VERIFICATION="true",
    )
    migrate(env)
    with gunicorn(env, log=log) as base:
        result = subprocess.run(
            [tools["bash"], "-c", script(blocks)],
            cwd=tmp_path,
            env={**env, "BASE": base, "MAIL_LOG": str(log)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    done = re.findall(r"^walkthrough: block (\d+) done$", result.stdout, re.M)
    assert result.returncode == 0, (
        f"block {len(done) + 1} of docs/walkthrough.md failed (exit {result.returncode}):\n"
        f"{blocks[len(done)]}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    assert done == [str(number) for number in range(1, len(blocks) + 1)]
