"""The demo's closing report: the counts, each check with its mark, and what to try next."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text

from relaybox.demo.summary import Check, DemoSummary

SHOWN_DEAD_LETTERS = 5


def print_summary(summary: DemoSummary, console: Console) -> None:
    """Print ``summary`` for people: plain text, coloured on a terminal."""
    rate = summary.committed / summary.seconds if summary.seconds else 0.0
    _say(console, "")
    for label, value in (
        ("orders placed", f"{summary.orders}  (the refused ones rolled back)"),
        ("events committed", f"{summary.committed}"),
        ("events rolled back", f"{summary.rolled_back}  (never to be published)"),
        ("delivered", f"{summary.delivered}  to the published file"),
        ("retries", f"{summary.retries}  ({summary.timeouts} broker timeouts injected)"),
        ("dead letters", f"{summary.dead}  ({summary.rejections} broker rejections injected)"),
        ("time", f"{summary.seconds:.2f} s  ({rate:,.0f} events/s)"),
    ):
        _say(console, f"  {label:<20}{value}")
    _say(console, "")
    for check in summary.checks:
        console.print(_check_line(check, console), soft_wrap=True)
    _dead_letters(summary, console)
    _say(console, "")
    verdict = "ALL CHECKS PASSED" if summary.ok else "CHECKS FAILED"
    console.print(Text(verdict, style="bold green" if summary.ok else "bold red"))
    _next_steps(summary, console)


def _check_line(check: Check, console: Console) -> Text:
    unicode = console.encoding.lower().startswith("utf")
    mark = ("✔" if unicode else "ok") if check.passed else ("✘" if unicode else "FAIL")
    return Text.assemble(
        "  ",
        (mark, "bold green" if check.passed else "bold red"),
        f" {check.label}",
        (f"  ({check.detail})", "dim"),
    )


def _dead_letters(summary: DemoSummary, console: Console) -> None:
    if not summary.dead_letters:
        return
    _say(console, "")
    _say(console, "  dead letters (kept with their error; replay them once the cause is fixed):")
    for note in summary.dead_letters[:SHOWN_DEAD_LETTERS]:
        tries = "attempt" if note.attempts == 1 else "attempts"
        _say(console, f"    {note.key} {note.type} after {note.attempts} {tries}: {note.error}")
    hidden = len(summary.dead_letters) - SHOWN_DEAD_LETTERS
    if hidden > 0:
        _say(console, f"    ... and {hidden} more")


def _next_steps(summary: DemoSummary, console: Console) -> None:
    _say(console, "")
    _say(console, f"  database        {summary.database}")
    _say(console, f"  published file  {summary.published_file}")
    _say(console, "")
    _say(console, "  try next:")
    target = summary.published_file.as_uri()
    program = command_name()
    for command in ("status", "dead list", "dead replay --all", f"relay --once --to {target}"):
        _say(console, f"    {program} {command} --db {summary.url}")


def command_name() -> str:
    """How to run this relaybox again from any folder: its name when on PATH, else its path.

    ``./scripts/demo`` runs ``.venv/bin/relaybox`` without activating the
    environment, so a bare ``relaybox`` would not be found by the shell.
    """
    running = Path(sys.argv[0]).resolve()
    found = shutil.which("relaybox")
    if found is not None and Path(found).resolve() == running:
        return "relaybox"
    if running.name == "relaybox" and os.access(running, os.X_OK):
        return shlex.quote(str(running))
    return f"{shlex.quote(sys.executable)} -m relaybox"


def _say(console: Console, text: str) -> None:
    # Paths and errors may hold [brackets]: never read them as markup.
    console.print(text, markup=False, highlight=False, soft_wrap=True)
