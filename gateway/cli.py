"""The `sluice` command: `serve` runs the gateway, `compare` runs the comparison."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError

from gateway import __version__, call_command
from gateway.access.tokens import HostPolicy
from gateway.observe import logs
from gateway.pipeline.tools import ToolsError, load_tools
from gateway.runtime import extras
from gateway.runtime.config import load_settings
from gateway.runtime.options import ENV_PREFIX, Option, grouped
from gateway.server import exposure, workers
from gateway.server.drain import DrainingServer

WS_MAX_MESSAGE_BYTES = 256 * 1024
"""Read whole up to here, so that the adapters refuse a message past their own
64 KiB limit with 1009; past this the server drops the connection."""


SETTINGS_NOTE = f"""\
Every setting is also an environment variable ({ENV_PREFIX}<NAME>, e.g.
{ENV_PREFIX}MAX_CALLS=50) and a key in the TOML file given by --config
(max_calls = 50). A flag beats the environment, which beats the file.
Secrets (keys, tokens) are best given in the environment or the file: a
flag is visible to every user of the machine in the process list."""


METAVARS = {int: "N", float: "X", str: "TEXT"}


def _help(option: Option) -> str:
    text = option.description.rstrip(".")
    if option.bounds:
        text += f" ({option.bounds})"
    text += f" [default: {option.default_label}]"
    if option.secret:
        text += f"; prefer {option.env}"
    return text.replace("%", "%%")


def _serve_parser(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--config", type=Path, metavar="FILE", help="TOML file of settings")
    for title, group_options in grouped():
        group = serve.add_argument_group(title)
        for option in group_options:
            kwargs: dict[str, Any] = {"dest": option.name, "default": None, "help": _help(option)}
            if option.kind is bool:
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["type"] = option.kind
                kwargs["metavar"] = METAVARS[option.kind] if option.choices is None else None
                kwargs["choices"] = option.choices
            group.add_argument(option.flag, **kwargs)


def build_parser(
    with_compare: bool = False, commands: dict[str, argparse.ArgumentParser] | None = None
) -> argparse.ArgumentParser:
    """`with_compare` adds `sluice compare`'s own options, which need its extra;
    `commands`, when given, is filled with each command's own parser."""
    parser = argparse.ArgumentParser(
        prog="sluice",
        description="Sluice: a media gateway for voice agents, with real flow control and "
        "barge-in over WebRTC, browser WebSocket and phone carriers.",
        epilog="Start with `sluice serve` and open http://127.0.0.1:8080/. "
        "Documentation: docs/ in the source, or `make docs`.",
    )
    parser.add_argument("--version", action="version", version=f"sluice {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        usage="sluice serve [--config FILE] [options]",
        help="run the gateway",
        description="Run the gateway: the page at /, phone webhooks, WebRTC and WebSocket "
        "calls.",
        epilog=SETTINGS_NOTE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _serve_parser(serve)
    compare = sub.add_parser(
        "compare",
        help="run the same speech over each transport under network profiles "
        "(needs sluice-gateway[compare])",
        description="Run the same scripted call over each transport, under each network "
        "profile, and report what the listener heard.",
    )
    if with_compare:
        from gateway.compare.cli import add_arguments

        add_arguments(compare)
    place = sub.add_parser(
        "call",
        help="place an outbound call through a running gateway (POST /calls)",
        description="Ask a running gateway to call a number through a carrier's REST API. "
        "The operator token is read from SLUICE_CALL_RECORDS_TOKEN.",
    )
    call_command.add_arguments(place)
    if commands is not None:
        commands.update(serve=serve, compare=compare, call=place)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    wants_compare = bool(argv) and argv[0] == "compare"
    try:
        parser = build_parser(with_compare=wants_compare)
    except ImportError as exc:
        print(f"sluice compare needs its extra: pip install 'sluice-gateway[compare]' "
              f"({exc})", file=sys.stderr)  # fmt: skip
        sys.exit(2)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return
    if args.command == "call":
        sys.exit(call_command.call(args))
    if args.command == "compare":
        from gateway.compare.cli import compare

        sys.exit(compare(args, argv))
    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    try:
        settings = load_settings(args.config, **overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        print(f"sluice: bad settings: {problems}", file=sys.stderr)
        sys.exit(2)
    logs.configure(settings.log_level)
    for problem in extras.missing(settings):
        print(f"sluice: {problem}", file=sys.stderr)
        sys.exit(2)
    try:
        load_tools(settings.tools)  # a bad tools module is a clear error now, not a traceback later
    except ToolsError as exc:
        print(f"sluice: {exc}", file=sys.stderr)
        sys.exit(2)
    doors = exposure.open_doors(settings)
    if doors and not settings.insecure:
        print(
            f"sluice: refusing to serve {settings.host} publicly (beyond loopback, or with a "
            "public_url), because:\n  "
            + "\n  ".join(doors)
            + "\nSet them (see docs/guides/public-deployment.md), "
            "or pass --insecure to serve anyway.",
            file=sys.stderr,
        )
        sys.exit(2)
    security = logging.getLogger("gateway.security")
    for door in doors:
        security.warning("INSECURE (--insecure): %s", door)
    hosts = HostPolicy.from_settings(settings.host, settings.public_url, settings.allowed_hosts)
    if hosts.any_host:
        security.warning(
            "listening on every interface with no public_url or allowed_hosts: any Host header "
            "is answered, so DNS rebinding is not stopped; set one of them"
        )
    spec = workers.worker_spec()
    if settings.workers > 1 and spec is None:
        sys.exit(workers.supervise(settings, argv))
    from gateway.server.app import create_app
    from gateway.server.ws_protocol import ReadAheadProtocol

    config = uvicorn.Config(
        create_app(settings, worker=spec),
        host=settings.host,
        port=settings.port,
        ws_max_size=WS_MAX_MESSAGE_BYTES,
        ws=ReadAheadProtocol,
        # Compressing base64 audio saves little and costs CPU on every frame.
        ws_per_message_deflate=False,
        log_config=None,
        proxy_headers=True,
        # After a drain (or its timeout), connections still open get this long.
        timeout_graceful_shutdown=5,
    )
    server = DrainingServer(config, settings.drain_timeout_s)
    if spec is None:
        server.run()
        return
    sockets = [
        socket.socket(fileno=spec["public_fd"]),
        socket.socket(fileno=spec["private_fd"]),
    ]
    asyncio.run(server.serve(sockets=sockets))


if __name__ == "__main__":
    main()
