"""`sluice compare`: the matrix, a progress line per run, a results directory."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path

from gateway.compare import profiles as profile_data
from gateway.compare.report import write_report
from gateway.compare.runner import CLIENTS, MODES, SCENARIOS, TRANSPORTS, plan, run_matrix
from gateway.compare.target import GivenGateways, LocalGateways, Target
from gateway.testing import chromium


def add_arguments(compare: argparse.ArgumentParser) -> None:
    """`sluice compare`'s options; each list names the values it takes."""

    def listed(values: tuple[str, ...] | list[str]) -> str:
        return ", ".join(values)

    compare.add_argument("--transports", default=",".join(TRANSPORTS),
                         help=f"comma-separated, from: {listed(TRANSPORTS)} [default: %(default)s]")
    compare.add_argument("--profiles", default="clean,4g,wifi-bad,satellite",
                         help="comma-separated network profiles, from: "
                         f"{listed(list(profile_data.BUILTIN))} [default: %(default)s]")
    compare.add_argument("--profiles-file", type=Path, metavar="FILE",
                         help="JSON list of extra profiles (name, delay_ms, jitter_ms, loss, "
                         "loss_burst, rate_kbit, playout)")
    compare.add_argument("--scenarios", default="interrupt,burst,many",
                         help=f"comma-separated, from: {listed(SCENARIOS)} [default: %(default)s]")
    compare.add_argument("--modes", default="controlled,naive",
                         help="comma-separated flow modes, from: "
                         f"{listed(MODES)} [default: %(default)s]")
    compare.add_argument("--clients", default=",".join(CLIENTS),
                         help=f"comma-separated listeners, from: {listed(CLIENTS)}: synthetic "
                         "Python clients, and the real page in headless Chromium where installed "
                         "[default: %(default)s]")
    compare.add_argument("--many-calls", type=int, default=10,
                         help="calls in the many scenario [default: %(default)s]")
    compare.add_argument("--url",
                         help="measure this running gateway (http://host:port) instead of "
                         "starting one")
    compare.add_argument("--naive-url", help="with --url: a second gateway run with "
                         "flow_mode = naive")
    compare.add_argument("--token", default="", help="the gateway's call_records_token")
    compare.add_argument("--out", type=Path, metavar="DIR",
                         help="results directory [default: results/compare-<time>]")
    compare.add_argument("--network", choices=("kernel", "relay"),
                         help="kernel: real TCP and UDP between two network namespaces through "
                         "Sluice's packet impairer (needs root); relay: user-space relays on "
                         "loopback [default: kernel where namespaces can be made, else relay; "
                         "relay with --url]")
    compare.add_argument("--check-network", action="store_true",
                         help="measure only the kernel network path under each profile "
                         "(datagrams and a TCP transfer through the impairer, between two "
                         "network namespaces; needs root) and exit: 1 if a profile's achieved "
                         "figures miss its targets")  # fmt: skip


def _pick(value: str, allowed: tuple[str, ...], what: str) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what} {unknown}; choose from {list(allowed)}")
    return chosen


async def _run(args: argparse.Namespace, command: str) -> Path:
    transports = _pick(args.transports, TRANSPORTS, "transports")
    scenarios = _pick(args.scenarios, SCENARIOS, "scenarios")
    modes = _pick(args.modes, MODES, "modes")
    clients = _pick(args.clients, CLIENTS, "clients")
    if "chromium" in clients and not chromium.available():
        print(f"no Chromium at {chromium.CHROMIUM}: real-browser runs skipped "
              "(set SLUICE_CHROMIUM, or install Debian's chromium)")  # fmt: skip
        clients.remove("chromium")
    chosen = profile_data.load([p.strip() for p in args.profiles.split(",")], args.profiles_file)
    gateways: LocalGateways | GivenGateways
    if args.naive_url and not args.url:
        raise SystemExit("--naive-url needs --url (the flow-controlled gateway)")
    if args.url:
        naive = Target(args.naive_url, args.token) if args.naive_url else None
        gateways = GivenGateways(Target(args.url, args.token), naive)
        if "naive" in modes and naive is None:
            print("no --naive-url: the naive baseline is skipped")
            modes.remove("naive")
    else:
        gateways = LocalGateways()
    out = args.out or Path("results") / time.strftime("compare-%Y%m%d-%H%M%S")
    network = _network(args)
    runs = plan(transports, chosen, scenarios, modes, clients)
    records = await run_matrix(gateways, runs, many_calls=args.many_calls, network=network)
    return write_report(records, out, command)


def _network(args: argparse.Namespace) -> str:
    from gateway.compare.netpath import namespaces

    reason = namespaces.unavailable()
    if args.network == "kernel":
        if args.url:
            raise SystemExit(
                "--network kernel starts its own gateways inside the path; "
                "a gateway given by --url is measured with --network relay"
            )
        if reason:
            raise SystemExit(f"the kernel network path is unavailable here: {reason}")
    network = args.network or ("relay" if args.url or reason else "kernel")
    why = f" ({reason})" if network == "relay" and reason and not args.url else ""
    print(f"network: {network}{why}")
    return network


def compare(args: argparse.Namespace, argv: list[str]) -> int:
    # The progress lines are the output; the gateways run in processes of their own.
    logging.getLogger().setLevel(logging.WARNING)
    if args.check_network:
        from gateway.compare.netpath import check, namespaces

        reason = namespaces.unavailable()
        if reason:
            raise SystemExit(f"the kernel network path is unavailable here: {reason}")
        names = [p.strip() for p in args.profiles.split(",")]
        chosen = profile_data.load(names, args.profiles_file)
        out = args.out or Path("results") / time.strftime("network-%Y%m%d-%H%M%S")
        return check.run(chosen, out)
    report = asyncio.run(_run(args, "sluice " + " ".join(argv)))
    print(f"report: {report}")
    return 0
