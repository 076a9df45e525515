"""`sluice serve`: run the gateway."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from gateway import exposure, logs, workers
from gateway.access import HostPolicy
from gateway.config import load_settings
from gateway.drain import DrainingServer
from gateway.voice.tools import ToolsError, load_tools

WS_MAX_MESSAGE_BYTES = 256 * 1024
"""Read whole up to here, so that the adapters refuse a message past their own
64 KiB limit with 1009; past this the server drops the connection."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sluice", description="Sluice voice gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, help="TOML file of settings")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--public-url", help="public https base URL Twilio reaches")
    serve.add_argument("--agent", choices=["offline", "openai"])
    serve.add_argument("--voice", choices=["cascade", "openai-realtime"])
    serve.add_argument("--openai-realtime-url", help="the Realtime WebSocket endpoint")
    serve.add_argument("--openai-realtime-model")
    serve.add_argument("--tools", help="module:object of async functions the agent may call")
    serve.add_argument("--stt", choices=["whisper", "pocketsphinx", "openai"])
    serve.add_argument("--stt-whisper-model", help="bundled, a CTranslate2 directory, or a name")
    serve.add_argument("--tts", choices=["espeak", "piper", "openai"])
    serve.add_argument("--greeting")
    serve.add_argument("--max-calls", type=int, help="calls at once on this node")
    serve.add_argument("--redis-url", help="Redis the nodes of a cluster share")
    serve.add_argument("--node-url", help="this node's base URL, as the other nodes reach it")
    serve.add_argument("--cluster-max-calls", type=int, help="calls at once on all nodes")
    serve.add_argument("--drain-timeout-s", type=float, help="after SIGTERM, at most this")
    serve.add_argument("--stt-workers", type=int)
    serve.add_argument("--log-level")
    serve.add_argument("--workers", type=int, help="worker processes behind the port")
    serve.add_argument("--webrtc-host-addresses", help="ICE host addresses to advertise")
    serve.add_argument("--allowed-hosts", help="host names browsers and operators use; * any")
    serve.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="serve beyond loopback with a token empty (refused otherwise)",
    )

    compare = sub.add_parser(
        "compare", help="run the same speech over each transport under network profiles"
    )
    compare.add_argument("--transports", default="twilio,websocket,webrtc")
    compare.add_argument("--profiles", default="clean,4g,wifi-bad,satellite")
    compare.add_argument("--profiles-file", type=Path, help="JSON list of extra profiles")
    compare.add_argument("--scenarios", default="interrupt,burst,many")
    compare.add_argument("--modes", default="controlled,naive")
    compare.add_argument(
        "--clients",
        default="synthetic,chromium",
        help="synthetic Python clients, and the real page in headless Chromium where installed",
    )
    compare.add_argument("--many-calls", type=int, default=10, help="calls in the many scenario")
    compare.add_argument(
        "--url", help="measure this running gateway (http://host:port) instead of starting one"
    )
    compare.add_argument(
        "--naive-url", help="with --url: a second gateway run with flow_mode = naive"
    )
    compare.add_argument("--token", default="", help="the gateway's call_records_token")
    compare.add_argument(
        "--out", type=Path, help="results directory (default: results/compare-<time>)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.command == "compare":
        try:
            from gateway.compare.cli import compare
        except ImportError as exc:
            print(f"sluice compare needs its extra: pip install 'sluice-gateway[compare]' "
                  f"({exc})", file=sys.stderr)  # fmt: skip
            sys.exit(2)

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
            + "\nSet them (see README, Security), or pass --insecure to serve anyway.",
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
    from gateway.app import create_app

    config = uvicorn.Config(
        create_app(settings, worker=spec),
        host=settings.host,
        port=settings.port,
        ws_max_size=WS_MAX_MESSAGE_BYTES,
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
