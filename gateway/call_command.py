"""`sluice call`: place an outbound call through a running gateway's
POST /calls, and optionally follow its states until it ends."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import httpx

TERMINAL = ("completed", "busy", "no-answer", "failed", "canceled")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("to", help="the number to call, e.g. +15551230000")
    parser.add_argument("--from", dest="from_", required=True, help="your carrier number")
    parser.add_argument("--carrier", default="twilio", help="twilio (default), signalwire, "
                        "telnyx, plivo or vonage")  # fmt: skip
    parser.add_argument("--greeting", help="what the callee hears first (default: greeting)")
    parser.add_argument("--agent", help="this call's agent plug-in, module:factory")
    parser.add_argument("--voice", help="cascade, openai-realtime or gemini-live")
    parser.add_argument("--metadata", help='JSON object of strings for the agent, e.g. '
                        '\'{"appointment": "9:00"}\'')  # fmt: skip
    parser.add_argument("--gateway", default="http://127.0.0.1:8080", help="the gateway's URL")
    parser.add_argument("--follow", action="store_true", help="print each state until it ends")


def call(args: argparse.Namespace) -> int:
    body: dict = {"to": args.to, "from": args.from_, "carrier": args.carrier}
    for key in ("greeting", "agent", "voice"):
        if getattr(args, key):
            body[key] = getattr(args, key)
    if args.metadata:
        body["metadata"] = json.loads(args.metadata)
    token = os.environ.get("SLUICE_CALL_RECORDS_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    base = args.gateway.rstrip("/")
    with httpx.Client(timeout=15, headers=headers) as http:
        try:
            answer = http.post(base + "/calls", json=body)
        except httpx.HTTPError as exc:
            print(f"sluice call: the gateway at {base} did not answer: {exc}", file=sys.stderr)
            return 1
        if answer.status_code != 201:
            print(f"sluice call: {answer.status_code} {answer.text}", file=sys.stderr)
            return 1
        placed = answer.json()
        print(json.dumps(placed))
        seen = placed["state"]
        while args.follow and seen not in TERMINAL:
            time.sleep(1)
            state = http.get(f"{base}/calls/{placed['call_id']}").json()["outbound"]["state"]
            if state != seen:
                print(state)
                seen = state
    return 0
