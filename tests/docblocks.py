"""The code blocks of the README and the docs, and how to run one as a test runs it.

Each block is found by its file and first line. Python blocks run with
:func:`run_python` in a namespace the test prepares (the connection pool or
engine a snippet takes as given), top-level ``await`` allowed. The docs'
example URLs and paths are swapped for the test's own with :func:`swapped`,
the only change made to a block before it runs.
"""

from __future__ import annotations

import ast
import inspect
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[1]
DOCUMENTS = (
    "README.md",
    "docs/outbox.md",
    "docs/architecture.md",
    "docs/reference.md",
    "docs/delivery.md",
    "docs/brokers.md",
    "docs/kafka.md",
    "docs/rabbitmq-mqtt-webhooks.md",
)
WIDTH = 40
"""Characters of a block's first line kept in its name."""
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Block:
    document: str
    line: int
    language: str
    code: str
    name: str
    """``document: first line`` (`` (2)`` for the second block so named), its identity."""


def blocks() -> list[Block]:
    """Every fenced block of every document, in order."""
    found: list[Block] = []
    for document in DOCUMENTS:
        text = (ROOT / document).read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            name = f"{document}: {match[2].strip().splitlines()[0][:WIDTH].rstrip()}"
            same = sum(1 for b in found if b.name.split(" (")[0] == name)
            found.append(
                Block(document, line, match[1], match[2], name + (f" ({same + 1})" if same else ""))
            )
    return found


def block(name: str) -> Block:
    (found,) = [b for b in blocks() if b.name == name]
    return found


def swapped(code: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert old in code, f"{old!r} is no longer in the block: update the test"
        code = code.replace(old, new)
    return code


async def run_python(found: Block, namespace: dict[str, object], code: str | None = None) -> None:
    """Run the block (or ``code``, its swapped text) in ``namespace``; ``await`` allowed."""
    source = found.code if code is None else code
    compiled = compile(
        source, f"{found.document}:{found.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    result = eval(compiled, namespace)  # the docs' own code, run on purpose
    if inspect.isawaitable(result):
        await result


def command_lines(found: Block) -> list[list[str]]:
    """The shell block's commands, comments dropped, each split into words."""
    lines = []
    for line in found.code.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            lines.append(words)
    return lines
