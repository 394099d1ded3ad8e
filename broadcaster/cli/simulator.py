"""`broadcaster simulator`: the simulated carrier as an HTTP server speaking the eSMS protocol.

Point an eSMS route at it (``options.base_url`` = the printed URL) to exercise dispatch, throttling,
retries and receipts without sending anything. Runs until Ctrl-C.
"""

from __future__ import annotations

import os
import threading
from typing import Annotated

import typer

from broadcaster.cli._app import out

DEFAULT_PORT = 8765


def simulator(
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).", min=0, max=65535)] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Address to bind; keep the loopback unless you mean it.")] = "127.0.0.1",
    behaviour: Annotated[
        str, typer.Option("--behaviour", "-b", help="Named behaviours, comma-separated (see --list).")
    ] = "happy",
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="A behaviour field, KEY=VALUE (repeatable), e.g. --set transient_rate=0.2."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of every simulated decision.")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the ApiKey to require (default: any).")
    ] = None,
    secret_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the SecretKey to require (default: any).")
    ] = None,
    hang: Annotated[float, typer.Option(help="Seconds an unanswered (timed-out) request is held.", min=0)] = 30.0,
    allow_remote_callbacks: Annotated[
        bool, typer.Option(help="Also call callback URLs that are not on this machine.")
    ] = False,
    list_behaviours: Annotated[bool, typer.Option("--list", help="List the named behaviours and exit.")] = False,
) -> None:
    """Run the simulated carrier over HTTP (eSMS protocol) until Ctrl-C."""
    from carriers.errors import AdapterOptionsError
    from carriers.simulator import PRESETS, Behaviour, Smsc
    from carriers.simulator_http import SimulatorServer

    if list_behaviours:
        for name, preset in PRESETS.items():
            fields = ", ".join(f"{k}={v}" for k, v in preset.describe().items()) or "defaults"
            out.print(f"{name:<20} {fields}", markup=False, highlight=False)
        return
    overrides: dict[str, str | int] = {}
    for item in settings or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            msg = f"--set takes KEY=VALUE, not {item!r}"
            raise AdapterOptionsError(msg)
        overrides[key.strip()] = value.strip()
    if seed is not None:
        overrides["seed"] = seed
    chosen = Behaviour.named(behaviour, **overrides)  # AdapterOptionsError: one line for the operator
    keys = {
        name: _from_env(var, option)
        for name, var, option in (
            ("api_key", api_key_env, "--api-key-env"),
            ("secret_key", secret_key_env, "--secret-key-env"),
        )
    }
    server = SimulatorServer(
        Smsc(chosen),
        host=host,
        port=port,
        api_key=keys["api_key"],
        secret_key=keys["secret_key"],
        hang=hang,
        allow_remote_callbacks=allow_remote_callbacks,
    )
    try:
        server.start()
    except OSError as exc:
        msg = f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or --host"
        raise AdapterOptionsError(msg) from exc
    described = ", ".join(f"{k}={v}" for k, v in chosen.describe().items()) or "happy"
    out.print(f"Simulated eSMS carrier on {server.base_url}", markup=False, highlight=False)
    out.print(
        f"Behaviour: {described}. Switch it: POST {server.url}/_sim/behaviour; stats: GET {server.url}/_sim/stats",
        markup=False,
        highlight=False,
    )
    out.print("Ctrl-C to stop.", markup=False, highlight=False)
    stop = threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    out.print(f"Stopped. {server.smsc.submitted} messages accepted.", markup=False, highlight=False)


def _from_env(variable: str | None, option: str) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        from carriers.errors import AdapterOptionsError

        msg = f"{option} {variable}: the environment variable is not set; export it or drop the option"
        raise AdapterOptionsError(msg)
    return value
