"""The results directory of a comparison run: raw records, a summary table,
plots, and a Markdown report that embeds them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a server
import matplotlib.pyplot as plt  # noqa: E402

from gateway.compare import rtc_stats  # noqa: E402
from gateway.compare.netpath.report import network_section  # noqa: E402

COLUMNS = [
    ("profile", "profile"),
    ("scenario", "scenario"),
    ("transport", "transport"),
    ("mode", "flow"),
    ("client", "client"),
    ("ttfa_ms", "time to first audio (ms)"),
    ("stale_ms", "stale audio (ms)"),
    ("talk_over_ms", "talk-over (ms)"),
    ("barge_in_reaction_ms", "barge-in reaction (ms)"),
    ("heard_error_ms", "heard error (ms)"),
    ("peak_client_buffer_ms", "peak client buffer (ms)"),
    ("peak_in_flight_ms", "peak in flight (ms)"),
    ("window_ms", "window (ms)"),
    ("underruns", "underruns"),
]
MANY_COLUMNS = [
    ("profile", "profile"),
    ("transport", "transport"),
    ("calls", "calls at once"),
    ("cpu_per_call_pct", "gateway CPU per call (% of a core)"),
    ("calls_with_underruns", "calls with underruns"),
    ("peak_client_buffer_ms", "peak client buffer (ms)"),
]
BACKCHANNEL_COLUMNS = [
    ("profile", "profile"),
    ("transport", "transport"),
    ("mode", "flow"),
    ("client", "listener"),
    ("hm_ms", "hm (ms)"),
    ("talk_over_ms", "talk-over (ms)"),
    ("pause_ms", "pause (ms)"),
    ("pause_after_last_voiced_ms", "silence after the last voiced audio (ms)"),
    ("gateway_pause_ms", "the gateway's pause (ms)"),
    ("backchannel_loss_ms", "greeting lost (ms)"),
    ("new_reply", "new reply"),
]
COLORS = {"controlled": "#1f7a4d", "naive": "#b3261e", "no-pause": "#8a6d00"}


def _synthetic(record: dict) -> bool:
    return record.get("client", "synthetic") == "synthetic"


def _row(record: dict, columns=COLUMNS, fail_key: str = "ttfa_ms") -> dict:
    row = {key: record.get(key) for key, _ in columns}
    row["profile"] = record["profile"]["name"]
    if not record.get("ok"):
        row[fail_key] = "failed: " + record.get("error", "")[:60]
    return row


def _table(rows: list[dict], columns) -> list[str]:
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(_fmt(row[k]) for k, _ in columns) + " |" for row in rows]


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 and value != int(value) else f"{value:.0f}"
    return "–" if value is None else str(value)


def physics_violations(records: list[dict]) -> list[str]:
    """Figures that beat physics are bugs in the measurement, and are reported as
    such: a reply heard sooner than the question and the answer can cross the
    path, or a reply's audio stopping sooner than the last of it in flight
    could arrive (not over WebRTC, whose listener hears voiced audio only, so
    a pause between words can end what it counts sooner)."""
    problems = []
    for r in records:
        if not r.get("ok"):
            continue
        one_way = r["profile"]["delay_ms"]
        client = r.get("client", "synthetic")
        where = f"{r['transport']} × {r['profile']['name']} ({r['mode']}, {client})"
        if r.get("ttfa_ms") is not None and r["ttfa_ms"] < 2 * one_way - 1:
            problems.append(
                f"{where}: time to first audio {r['ttfa_ms']:.0f} ms is below the round trip "
                f"of {2 * one_way:.0f} ms"
            )
        stale = r.get("stale_ms")
        if stale is not None and r["transport"] != "webrtc" and stale < one_way - 1:
            problems.append(
                f"{where}: stale {stale:.0f} ms is below the one-way delay of {one_way:.0f} ms"
            )
    return problems


def _buffer_plot(records: list[dict], profile: str, path: Path) -> Path | None:
    runs = [r for r in records if r.get("ok") and r["profile"]["name"] == profile
            and r["scenario"] == "interrupt" and r.get("buffer_series")
            and _synthetic(r)]  # fmt: skip
    transports = sorted({r["transport"] for r in runs})
    if not transports:
        return None
    fig, axes = plt.subplots(1, len(transports), figsize=(5 * len(transports), 3.6), squeeze=False)
    for ax, transport in zip(axes[0], transports, strict=True):
        for r in runs:
            if r["transport"] != transport:
                continue
            t = [(p[0] - r["interrupt_at"]) for p in r["buffer_series"]]
            ax.plot(t, [p[1] for p in r["buffer_series"]], color=COLORS[r["mode"]], label=r["mode"])
        ax.axvline(0, color="black", linestyle="--", linewidth=1, label="interrupt instant")
        ax.set_title(f"{transport}: client buffer")
        ax.set_xlabel("seconds from the interrupt instant")
        ax.set_ylabel("buffered at the client (ms)")
        ax.set_xlim(-4, 2)
        ax.legend(fontsize=8)
    fig.suptitle(f"Client buffer over time, profile {profile}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _stale_plot(records: list[dict], path: Path) -> Path | None:
    runs = [r for r in records if r.get("ok") and "stale_ms" in r and _synthetic(r)]
    if not runs:
        return None
    labels = sorted({(r["profile"]["name"], r["transport"]) for r in runs})
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(labels)), 3.8))
    width = 0.38
    for i, mode in enumerate(("controlled", "naive")):
        values = []
        for profile, transport in labels:
            key = (profile, transport, mode)
            match = [
                r["stale_ms"]
                for r in runs
                if (r["profile"]["name"], r["transport"], r["mode"]) == key
            ]
            values.append(match[0] if match else 0)
        xs = [j + (i - 0.5) * width for j in range(len(labels))]
        ax.bar(xs, values, width, color=COLORS[mode], label=mode)
    ax.set_xticks(range(len(labels)), [f"{t}\n{p}" for p, t in labels], fontsize=8)
    ax.set_ylabel("stale audio after the interrupt (ms)")
    ax.set_title("What the listener heard after interrupting")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _pick(records: list[dict], **match: str) -> dict | None:
    for r in records:
        if not r.get("ok"):
            continue
        if r["profile"]["name"] == match["profile"] and all(
            r.get(k, "synthetic" if k == "client" else None) == v
            for k, v in match.items()
            if k != "profile"
        ):
            return r
    return None


def _n(value: object, prefix: str = "") -> str:
    return "–" if value is None else f"{prefix}{value:.0f}"


def headline(records: list[dict]) -> list[str]:
    """One row per profile and transport: the figures a design review asks for."""
    lines = [
        "| profile | transport | TTFA (ms) | stale: controlled | stale: naive | stale: Chromium "
        "| barge-in reaction (ms) | heard error (ms) | peak client buffer: controlled / naive (ms) "
        "| burst: peak in flight / window (ms) | underruns | CPU per call, many calls (%) |",
        "|---|---|" + "---:|" * 10,
    ]
    pairs = dict.fromkeys((r["profile"]["name"], r["transport"]) for r in records)
    for profile, transport in pairs:
        c = _pick(records, profile=profile, transport=transport, scenario="interrupt",
                  mode="controlled", client="synthetic")  # fmt: skip
        n = _pick(records, profile=profile, transport=transport, scenario="interrupt",
                  mode="naive", client="synthetic")  # fmt: skip
        page = _pick(records, profile=profile, transport=transport, scenario="interrupt",
                     mode="controlled", client="chromium")  # fmt: skip
        burst = _pick(records, profile=profile, transport=transport, scenario="burst",
                      mode="controlled", client="synthetic")  # fmt: skip
        many = _pick(records, profile=profile, transport=transport, scenario="many",
                     mode="controlled", client="synthetic")  # fmt: skip
        if c is None:
            continue
        underruns = sum(r.get("underruns") or 0 for r in (c, burst) if r)
        cells = [
            profile, transport, _n(c.get("ttfa_ms")), _n(c.get("stale_ms")),
            _n(n and n.get("stale_ms"), "≥ "), _n(page and page.get("stale_ms")),
            _n(c.get("barge_in_reaction_ms")), _n(c.get("heard_error_ms")),
            f"{_n(c.get('peak_client_buffer_ms'))} / {_n(n and n.get('peak_client_buffer_ms'))}",
            f"{_n(burst and burst.get('peak_in_flight_ms'))} / {_n(c.get('window_ms'))}",
            str(underruns),
            "–" if not many or many.get("cpu_per_call_pct") is None
            else f"{many['cpu_per_call_pct']:.2f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_report(records: list[dict], out: Path, command: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "runs.json").write_text(json.dumps(records, indent=1, default=str))
    network = network_section(records)
    # A run whose path missed its profile is reported there, never averaged in.
    records = [r for r in records if r.get("network_valid", True)]
    single = [r for r in records if r["scenario"] not in ("many", "backchannel")]
    many = [r for r in records if r["scenario"] == "many"]
    backchannel = [r for r in records if r["scenario"] == "backchannel"]
    rows = [_row(r) for r in single]
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k, _ in COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
    table = _table(rows, COLUMNS)
    many_rows = [_row(r, MANY_COLUMNS, "cpu_per_call_pct") for r in many]
    many_table = _table(many_rows, MANY_COLUMNS) if many else []
    bc_rows = [_row(r, BACKCHANNEL_COLUMNS, "talk_over_ms") for r in backchannel]
    bc_table = _table(bc_rows, BACKCHANNEL_COLUMNS) if backchannel else []
    (out / "summary.md").write_text("\n".join(table + [""] + many_table + [""] + bc_table) + "\n")
    heads = headline(records)
    (out / "headline.md").write_text("\n".join(heads) + "\n")

    images = []
    stale = _stale_plot(records, out / "stale.png")
    if stale:
        images.append(stale)
    for profile in dict.fromkeys(r["profile"]["name"] for r in records):
        plot = _buffer_plot(records, profile, out / f"buffer_{profile}.png")
        if plot:
            images.append(plot)
    problems = physics_violations(records)
    lines = [
        "# Sluice transport comparison",
        "",
        f"Made by `{command}`. Every figure is taken at the listener on one monotonic "
        "clock; definitions in the project's metrics notes. `naive` is the send-and-pray "
        "baseline (no credit, no cushion, no clear) on the same machine in the same run; "
        "its stale audio is cut off by the end of the observation, so it is a lower bound.",
        "",
        *network,
        "## Headline",
        "",
        *heads,
        "",
        "## Summary",
        "",
        "`client` is `synthetic` (the Python clients with modelled playout) or "
        "`chromium` (the real page in headless Chromium, over the same network path), "
        "so the synthetic playout models can be checked against a browser.",
        "",
        *table,
        "",
        *rtc_stats.section(records),
        *(
            [
                "## Many calls at once",
                "",
                "The gateway's CPU (its process and worker processes, from its /metrics) "
                "per call while every call plays a long reply.",
                "",
                *many_table,
                "",
            ]
            if many
            else []
        ),  # fmt: skip
        *(
            [
                "## Backchannel",
                "",
                "The listener says a short \"hm\" a second into the greeting. Talk-over: how "
                "long they heard the agent after their first voiced sample; pause: the silence "
                "that followed; greeting lost: the greeting's audio they never heard (negative: "
                "heard twice). `no-pause` is flow control with provisional interrupts off. "
                "Over WebRTC, which carries no turn ids, the listener hears voiced audio only: "
                "there the pause is what the hm added to the time the greeting took to hear, "
                "against a plain call, and the silence after the last voiced audio, which "
                "takes in whatever gap between words the hm fell in, is shown beside it. The "
                "gateway's pause is its own record's: from pausing the turn to resuming it.",
                "",
                *bc_table,
                "",
            ]
            if backchannel
            else []
        ),  # fmt: skip
        "## Physics check",
        "",
        *(
            ["No figure beats physics: passed. Time to first audio is never below the "
             "round trip, nor stale audio (Twilio, WebSocket) below the one-way delay."]
            if not problems
            else [
                "Measurements that beat physics (bugs in the measurement):",
                "",
                *[f"- {p}" for p in problems],
            ]
        ),  # fmt: skip
        "",
        "## Plots",
        "",
        *[f"![{img.stem}]({img.name})\n" for img in images],
    ]
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report
