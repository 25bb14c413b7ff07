"""The targets a benchmark run checks, each with its verdict, for the printout and the JSON."""

from __future__ import annotations


class Targets:
    """Each target checked in this run, with its verdict, for the printout and the JSON."""

    def __init__(self) -> None:
        self.checked: list[dict[str, object]] = []

    def check(self, name: str, value: float, ok: bool, target: str) -> str:
        self.checked.append({"name": name, "value": value, "target": target, "pass": ok})
        return f"{'PASS' if ok else 'FAIL'} (target {target})"

    def summary(self) -> str:
        """How many targets were met, and which were missed."""
        failed = [str(t["name"]) for t in self.checked if not t["pass"]]
        line = f"targets: {len(self.checked) - len(failed)} of {len(self.checked)} met"
        return line + (f"; missed: {', '.join(failed)}" if failed else "")
