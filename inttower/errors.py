"""How a command fails on bad input: one red line on stderr, exit status 2."""

from __future__ import annotations

import typer


def fail(message: str) -> typer.Exit:
    """Raise what this returns: `raise fail("...") from exc`."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)
