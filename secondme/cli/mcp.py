"""``secondme mcp``: serve the memory to MCP clients over stdio (see docs/mcp.md).

The server itself is :mod:`secondme.integrations.mcp`; the ``mcp`` SDK loads only when
the command runs.
"""
from __future__ import annotations

from typing import Optional

import click

from .base import CliState


@click.command("mcp")
@click.option("--home", "home_opt", type=click.Path(file_okay=False),
              help="Data directory (same as the global --home).")
@click.option("--print-config", type=click.Choice(["claude-desktop", "generic"]),
              help="Print the snippet that registers secondme with an MCP client.")
@click.pass_obj
def mcp_command(state: CliState, home_opt: Optional[str], print_config: Optional[str]) -> None:
    """Serve your memory to MCP clients (Claude Desktop, editors) over stdio."""
    from ..integrations.mcp import client_config_snippet, serve
    from ..paths import resolve_home

    home = home_opt or state.home
    if print_config:
        click.echo(client_config_snippet(resolve_home(home), client=print_config))
        return
    from ..service import SecondMe

    serve(lambda: SecondMe(home))
