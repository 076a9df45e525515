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
    runs = plan(transports, chosen, scenarios, modes, clients)
    records = await run_matrix(gateways, runs, many_calls=args.many_calls)
    return write_report(records, out, command)


def compare(args: argparse.Namespace, argv: list[str]) -> int:
    # The progress lines are the output; the gateways run in processes of their own.
    logging.getLogger().setLevel(logging.WARNING)
    report = asyncio.run(_run(args, "sluice " + " ".join(argv)))
    print(f"report: {report}")
    return 0
