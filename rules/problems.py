"""Errors that list every problem at once, each with a JSON path and a reason."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PlanError", "Problem", "json_path"]


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def json_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


class PlanError(ValueError):
    """The plan is rejected; `problems` lists every reason, each with its JSON path."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.path, p.message))
        super().__init__(
            f"plan rejected, {len(self.problems)} problem(s):\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )
