"""`exitgate plan validate` and `exitgate evaluate` (file mode)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    plan_app = typer.Typer(help="Exit plans: validate and inspect.", no_args_is_help=True)
    app.add_typer(plan_app, name="plan")

    @plan_app.command("validate")
    def validate(path: str) -> None:
        """Validate an exit plan (JSON or YAML) and print its sha256, or every problem."""
        from rules.plan import PlanError, load_plan_file

        try:
            plan = load_plan_file(path)
        except PlanError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        typer.echo(f"OK {plan.id} sha256={plan.sha256}")
