"""The results directory of a comparison run: raw records, a summary table,
plots, and a Markdown report that embeds them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a server
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = [
    ("profile", "profile"),
    ("scenario", "scenario"),
    ("transport", "transport"),
    ("mode", "flow"),
    ("ttfa_ms", "time to first audio (ms)"),
    ("stale_ms", "stale audio (ms)"),
    ("barge_in_reaction_ms", "barge-in reaction (ms)"),
    ("heard_error_ms", "heard error (ms)"),
    ("peak_client_buffer_ms", "peak client buffer (ms)"),
    ("peak_in_flight_ms", "peak in flight (ms)"),
    ("window_ms", "window (ms)"),
    ("underruns", "underruns"),
]
COLORS = {"controlled": "#1f7a4d", "naive": "#b3261e"}


def _row(record: dict) -> dict:
    row = {key: record.get(key) for key, _ in COLUMNS}
    row["profile"] = record["profile"]["name"]
    if not record.get("ok"):
        row["ttfa_ms"] = "failed: " + record.get("error", "")[:60]
    return row


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.0f}"
    return "–" if value is None else str(value)


def physics_violations(records: list[dict]) -> list[str]:
    """Figures that beat physics are bugs in the measurement, and are reported as such."""
    problems = []
    for r in records:
        if not r.get("ok") or "stale_ms" not in r or r["transport"] == "webrtc":
            continue
        one_way = r["profile"]["delay_ms"]
        if r["stale_ms"] < one_way - 1:
            problems.append(
                f"{r['transport']} × {r['profile']['name']} ({r['mode']}): stale "
                f"{r['stale_ms']:.0f} ms is below the one-way delay of {one_way:.0f} ms"
            )
    return problems


def _buffer_plot(records: list[dict], profile: str, path: Path) -> Path | None:
    runs = [r for r in records if r.get("ok") and r["profile"]["name"] == profile
            and r["scenario"] == "interrupt" and r.get("buffer_series")]  # fmt: skip
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
    runs = [r for r in records if r.get("ok") and "stale_ms" in r]
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


def write_report(records: list[dict], out: Path, command: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "runs.json").write_text(json.dumps(records, indent=1, default=str))
    rows = [_row(r) for r in records]
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k, _ in COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
    table = ["| " + " | ".join(h for _, h in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]  # fmt: skip
    table += ["| " + " | ".join(_fmt(row[k]) for k, _ in COLUMNS) + " |" for row in rows]
    (out / "summary.md").write_text("\n".join(table) + "\n")

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
        "## Summary",
        "",
        *table,
        "",
        "## Physics check",
        "",
        *(
            ["Stale audio is never below the one-way delay: passed."]
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
