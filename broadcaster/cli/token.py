"""`broadcaster token …`: API tokens for the HTTP API and the console (shown once, stored hashed)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from broadcaster.cli._app import err, out, state_of

app = typer.Typer(help="API tokens for the HTTP API and the console.", no_args_is_help=True)

ROLE_HELP = "viewer (reads), operator (imports, creates, submits, pauses), approver (approves), admin (audit log)."


@app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Who uses the token (the audit log names them so).")],
    role: Annotated[str, typer.Option("--role", help=ROLE_HELP)],
    actor: Annotated[str, typer.Option("--as", help="Who creates it (for the audit log).")] = "cli",
    as_json: Annotated[bool, typer.Option("--json", help="Print {name, role, token} as JSON.")] = False,
) -> None:
    """Create a token and print it once: only its hash is stored, so it cannot be shown again."""
    from broadcaster.api import tokens

    issued = tokens.create_token(state_of(ctx).database(), name, role, actor=actor)
    if as_json:
        print(json.dumps({"name": issued.name, "role": issued.role, "token": issued.token}))
        return
    err.print(f"Token for [bold]{issued.name}[/] ({issued.role}); it is shown only now, keep it somewhere safe:")
    print(issued.token)


@app.command("list")
def token_list(ctx: typer.Context) -> None:
    """The tokens (names and roles; never the tokens themselves)."""
    from broadcaster.api import tokens

    table = Table()
    for column in ("Name", "Role", "Created", "Revoked"):
        table.add_column(column)
    for info in tokens.list_tokens(state_of(ctx).database()):
        table.add_row(
            info.name,
            info.role,
            info.created_at.strftime("%Y-%m-%d %H:%M"),
            info.revoked_at.strftime("%Y-%m-%d %H:%M") if info.revoked_at else "",
        )
    out.print(table)


@app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The token's name.")],
    actor: Annotated[str, typer.Option("--as", help="Who revokes it (for the audit log).")] = "cli",
) -> None:
    """Revoke a token: the API and the console refuse it from now on."""
    from broadcaster.api import tokens

    tokens.revoke_token(state_of(ctx).database(), name, actor=actor)
    out.print(f"Token {name!r} revoked.")
