"""Drive a service with wrk (bench/wrk/client.lua) and read what its workers hold."""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLIENT = Path(__file__).parent / "wrk" / "client.lua"
ERRORS = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")


@dataclass(frozen=True)
class Load:
    """One kind of request: wrk's mode (see client.lua), the path, and the record file."""

    mode: str
    path: str
    records: Path


def start(base: str, load: Load, seconds: int, connections: int) -> subprocess.Popen:
    """Start loading `base` for `seconds` over `connections` keep-alive connections."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    # One wrk thread: its event loop outruns the service by far and leaves it the most CPU.
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(CLIENT), base, "--", load.mode, load.path, str(load.records), "1"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, seconds: int) -> dict:
    """wrk's summary (client.lua's `done`), with requests/s and the error count added."""
    output, _ = process.communicate(timeout=seconds + 60)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}): {output}")
    summary = json.loads(output.strip().splitlines()[-1])
    summary["rps"] = summary["requests"] / (summary["duration_us"] / 1e6)
    summary["errors"] = sum(summary[name] for name in ERRORS)
    return summary


def run(base: str, load: Load, seconds: int, connections: int) -> dict:
    return finish(start(base, load, seconds, connections), seconds)


def worker_rss(master_pid: int) -> dict[int, int]:
    """Resident memory (KiB) of each worker process of a gunicorn master."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return {int(pid): _rss_kib(int(pid)) for pid in children}


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")
