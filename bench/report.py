"""The benchmark's results: the table, the targets, the machine, the section of
docs/performance.md that shows them and the summary of them in the README."""

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "latest.json"
PERFORMANCE_PAGE = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
README = ROOT / "README.md"
SUMMARY_START, SUMMARY_END = "<!-- bench-summary:start -->", "<!-- bench-summary:end -->"
# pymalloc takes memory from the system in 1 MiB arenas: less than one is not a trend.
LEAK_KIB = 1024
LABELS = {
    "reference": "reference: `GET /bench/users/<id>` (PK lookup, no auth)",
    "me": "`GET /me`",
    "fje_me": "flask-jwt-extended `GET /me`",
    "me_large": "`GET /me`, large store",
    "refresh": "`POST /auth/refresh`",
    "refresh_large": "`POST /auth/refresh`, large store",
    "login": "`POST /auth/login` (bcrypt cost 12)",
}


def median_round(runs: list[dict]) -> dict:
    """The round with the median throughput (its latencies with it), plus every round's."""
    ranked = sorted(runs, key=lambda run: run["rps"])
    chosen = dict(ranked[(len(ranked) - 1) // 2])
    chosen["rounds_rps"] = [round(run["rps"]) for run in runs]
    chosen["errors"] = sum(run["errors"] for run in runs)
    return chosen


def targets(result: dict, backend: str) -> list[tuple[str, str, str, bool | None]]:
    """(what, measured, goal, met) for each target of the issue; None: not a goal here."""
    phases = result["phases"]

    def ratio(a: str, b: str, key: str = "rps") -> float:
        return phases[a][key] / phases[b][key]

    me_floor = ratio("me", "reference")
    p99 = ratio("me", "reference", "p99_us")
    login = phases["login"]["rps"] / result["bcrypt"]["limit_rps"]
    refresh = ratio("refresh", "me")
    me_large, refresh_large = ratio("me_large", "me"), ratio("refresh_large", "refresh")
    errors = phases["refresh"]["errors"] + phases["refresh_large"]["errors"]
    sessions = result["sessions"]
    forks = sum(s["forked"] for s in sessions.values())
    revoked = sum(s["revoked"] for s in sessions.values())
    growth = max(second_half_growth(worker["rss_kib"]) for worker in result["memory"]["workers"])
    return [
        ("`/me` ÷ reference, requests/s", f"{me_floor:.2f}", "≥ 0.90", me_floor >= 0.9),
        ("`/me` ÷ reference, p99 latency", f"{p99:.2f}", "< 2.00", p99 < 2),
        ("login ÷ bcrypt limit", f"{login:.2f}", "≥ 0.90", login >= 0.9),
        (
            "refresh ÷ `/me`, requests/s",
            f"{refresh:.2f}",
            "≥ 0.50" if backend == "postgres" else "(Postgres only)",
            refresh >= 0.5 if backend == "postgres" else None,
        ),
        (
            "refresh errors / forked / reuse-revoked sessions",
            f"{errors} / {forks} / {revoked}",
            "0 / 0 / 0",
            errors == forks == revoked == 0,
        ),
        ("`/me` ÷ flask-jwt-extended `/me`", f"{ratio('me', 'fje_me'):.2f}", "(comparison)", None),
        ("`/me` large ÷ small store", f"{me_large:.2f}", "≥ 0.90", me_large >= 0.9),
        ("refresh large ÷ small store", f"{refresh_large:.2f}", "≥ 0.90", refresh_large >= 0.9),
        (
            "worker RSS growth, second half of the soak (largest)",
            f"{growth} KiB",
            f"< {LEAK_KIB} KiB",
            growth < LEAK_KIB,
        ),
    ]


def second_half_growth(rss_kib: list[int | None]) -> int:
    """RSS growth from the middle sample to the last: a warm worker that leaks keeps
    growing, one that only filled its caches has stopped."""
    known = [value for value in rss_kib if value is not None]
    return known[-1] - known[len(known) // 2]


def _start_middle_end(rss_kib: list[int | None]) -> list[int]:
    known = [value for value in rss_kib if value is not None]
    return [known[0], known[len(known) // 2], known[-1]]


def machine(args, elapsed: float) -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    # `make bench` is `python -m bench`; --docs only says where the output goes.
    options = [arg for arg in sys.argv[1:] if arg != "--docs"]
    command = "python -m bench " + " ".join(options) if options else "make bench"
    return {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "postgres": _version(["psql", "--version"]),
        "wrk": _version(["wrk", "--version"]),
        "seconds": args.seconds,
        "rounds": args.rounds,
        "elapsed_s": round(elapsed),
        "command": command,
    }


def _version(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return "absent"
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    return (finished.stdout or finished.stderr).strip().splitlines()[0]


def markdown(results: dict, machine: dict) -> str:
    lines = [
        f"Measured on {machine['date']}: {machine['cpu']}, {machine['cores']} cores; "
        f"Python {machine['python']}; {machine['postgres']}; {machine['wrk'].split(' [')[0]}. "
        f"gunicorn with the repository's gunicorn.conf.py (sync workers), production mode; "
        f"wrk on the same machine, 16 connections, "
        f"{machine['rounds']} alternating rounds of {machine['seconds']} s per phase "
        f"(the median round shown). The whole run took {machine['elapsed_s']} s.",
        "",
        f"Command: `{machine['command']}`",
    ]
    for backend, result in results.items():
        phases = result["phases"]
        stores = result["stores"]
        lines += [
            "",
            f"### {'PostgreSQL' if backend == 'postgres' else 'SQLite'}",
            "",
            f"{result['workers']} gunicorn workers. "
            f"Small store: {stores['small']['users']:,} users; large store: "
            f"{stores['large']['users']:,} users, {stores['large']['refresh_tokens']:,} "
            f"refresh tokens. bcrypt limit: {result['bcrypt']['cores']} cores ÷ "
            f"{result['bcrypt']['check_ms']:.0f} ms per check = "
            f"{result['bcrypt']['limit_rps']:.1f} checks/s.",
            "",
            "| endpoint | requests/s | p50 ms | p99 ms | errors | round trips "
            "| requests/s by round |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for phase, label in LABELS.items():
            run = phases[phase]
            rounds = ", ".join(map(str, run.get("rounds_rps", []))) or "one run"
            trips = result.get("round_trips", {}).get(phase.removesuffix("_large"), "-")
            lines.append(
                f"| {label} | {run['rps']:,.0f} | {run['p50_us'] / 1000:.1f} | "
                f"{run['p99_us'] / 1000:.1f} | {run['errors']} | {trips} | {rounds} |"
            )
        lines += ["", "| target | measured | goal | |", "|---|---:|---|---|"]
        for what, measured, goal, met in targets(result, backend):
            mark = "" if met is None else ("met" if met else "**missed**")
            lines.append(f"| {what} | {measured} | {goal} | {mark} |")
        memory = result["memory"]
        workers = "; ".join(
            " → ".join(f"{kib / 1024:.1f}" for kib in _start_middle_end(w["rss_kib"])) + " MiB"
            for w in memory["workers"]
        )
        lines += [
            "",
            f"Worker RSS at the start, middle and end of the {memory['seconds']} s soak "
            f"(/me and refresh together, {memory['requests']:,} requests, "
            f"{memory['errors']} errors), read every {memory['sample_seconds']} s: {workers}.",
            "",
            "```",
            *chart({LABELS[p].split(" (")[0].replace("`", ""): phases[p]["rps"] for p in LABELS}),
            "```",
        ]
    return "\n".join(lines)


def chart(values: dict[str, float], width: int = 40) -> list[str]:
    """Requests/s as bars, one line per endpoint."""
    top = max(values.values())
    name_width = max(map(len, values))
    return [
        f"{name:<{name_width}} {'█' * max(1, round(width * value / top)):<{width}} {value:,.0f}/s"
        for name, value in values.items()
    ]


def save(results: dict, machine: dict) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


def summary(results: dict, machine: dict) -> str:
    """The README's lines: per database, the figures a reader compares services by."""
    lines = [
        f"Measured by `make bench` on {machine['date']} ({machine['cores']} cores; gunicorn "
        "in production mode, wrk on 127.0.0.1 with 16 connections; the median of "
        f"{machine['rounds']} rounds). Every figure and how it is taken: "
        "[Performance](docs/performance.md).",
        "",
        "| database | `GET /me` requests/s | p99 ms | ÷ unauthenticated floor "
        "| ÷ flask-jwt-extended | `POST /auth/refresh` requests/s | login ÷ bcrypt limit |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, result in results.items():
        phases = result["phases"]
        me = phases["me"]
        lines.append(
            f"| {'PostgreSQL' if backend == 'postgres' else 'SQLite'} | {me['rps']:,.0f} | "
            f"{me['p99_us'] / 1000:.1f} | {me['rps'] / phases['reference']['rps']:.2f} | "
            f"{me['rps'] / phases['fje_me']['rps']:.2f} | {phases['refresh']['rps']:,.0f} | "
            f"{phases['login']['rps'] / result['bcrypt']['limit_rps']:.2f} |"
        )
    return "\n".join(lines)


def write_docs(text: str, summary_text: str) -> None:
    """The results into docs/performance.md, and their summary into the README."""
    _replace_section(PERFORMANCE_PAGE, START, END, text)
    _replace_section(README, SUMMARY_START, SUMMARY_END, summary_text)


def _replace_section(path: Path, start: str, end: str, text: str) -> None:
    page = path.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(page):
        raise SystemExit(f"{path.relative_to(ROOT)} has no {start} ... {end} section to write into")
    path.write_text(pattern.sub(lambda _: f"{start}\n{text}\n{end}", page))
