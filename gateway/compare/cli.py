"""`sluice compare`: the matrix, a progress line per run, a results directory."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path

from gateway.compare import profiles as profile_data
from gateway.compare.report import write_report
from gateway.compare.runner import MODES, SCENARIOS, TRANSPORTS, run_matrix
from gateway.config import Settings
from gateway.services import build_services


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
    chosen = profile_data.load([p.strip() for p in args.profiles.split(",")], args.profiles_file)
    out = args.out or Path("results") / time.strftime("compare-%Y%m%d-%H%M%S")
    services = build_services(Settings())
    await services.start()
    try:
        records = await run_matrix(services, transports, chosen, scenarios, modes)
    finally:
        services.close()
    return write_report(records, out, command)


def compare(args: argparse.Namespace, argv: list[str]) -> int:
    # The gateways run quietly inside this process; the progress lines are the output.
    logging.getLogger().setLevel(logging.WARNING)
    report = asyncio.run(_run(args, "sluice " + " ".join(argv)))
    print(f"report: {report}")
    return 0
