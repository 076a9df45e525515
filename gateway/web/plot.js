// A live plot of the last ten seconds on a canvas: the far end's buffer, the
// credit in flight, the window, and ticks where the caller spoke, where a pause
// or clear happened, and where the far end ran dry. On WebRTC the lines are
// the browser's jitter buffer: its target delay and its current delay.
const HISTORY_MS = 10_000;
const MAX_POINTS = 600; // bounded: a sample every ~20 ms over ten seconds
const COLORS = { buffer: "#2f6fd6", flight: "#1f7a4d", window: "#9aa3b0",
                 voice: "#8a5cf6", clear: "#b3261e", underrun: "#e08a00" };

export class Plot {
  constructor(canvas) {
    this.canvas = canvas;
    this.points = []; // [t, buffer, flight, window]
    this.marks = [];  // [t, kind]
    this.running = false;
  }

  reset() {
    this.points = [];
    this.marks = [];
  }

  sample(t, buffer, flight, window) {
    this.points.push([t, buffer, flight, window]);
    if (this.points.length > MAX_POINTS) this.points.splice(0, this.points.length - MAX_POINTS);
  }

  mark(t, kind) {
    this.marks.push([t, kind]);
    if (this.marks.length > 200) this.marks.splice(0, 100);
  }

  start() {
    if (this.running) return;
    this.running = true;
    const frame = () => {
      this.draw(performance.now());
      if (this.running) requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  stop() {
    this.running = false;
    this.draw(performance.now());
  }

  draw(now) {
    const { canvas } = this;
    const g = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, pad = 56;
    g.clearRect(0, 0, w, h);
    const since = now - HISTORY_MS;
    const shown = this.points.filter((p) => p[0] >= since);
    const top = Math.max(200, ...shown.map((p) => Math.max(p[1] ?? 0, p[2] ?? 0, p[3] ?? 0))) * 1.15;
    const x = (t) => pad + ((t - since) / HISTORY_MS) * (w - pad - 4);
    const y = (v) => h - 16 - (v / top) * (h - 24);

    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#5a6372";
    g.strokeStyle = "#e1e4e9";
    g.textAlign = "right";
    for (const v of [0, top / 2, top]) {
      g.beginPath(); g.moveTo(pad, y(v)); g.lineTo(w - 4, y(v)); g.stroke();
      g.fillText(`${Math.round(v)} ms`, pad - 4, y(v) + 4);
    }
    g.textAlign = "left";
    g.fillText("−10 s", pad, h - 2);
    g.textAlign = "right";
    g.fillText("now", w - 4, h - 2);
    g.textAlign = "left";

    for (const [t, kind] of this.marks) {
      if (t < since) continue;
      g.strokeStyle = COLORS[kind];
      g.lineWidth = kind === "underrun" ? 3 : 1.5;
      g.beginPath(); g.moveTo(x(t), y(top)); g.lineTo(x(t), y(0)); g.stroke();
    }
    // The far end's buffer as a shaded area, so the credit line drawn over it shows.
    g.fillStyle = "rgba(47, 111, 214, 0.18)";
    for (let i = 1; i < shown.length; i++) {
      const [a, b] = [shown[i - 1], shown[i]];
      if (a[1] === null || a[1] === undefined || b[1] === null || b[1] === undefined) continue;
      g.beginPath();
      g.moveTo(x(a[0]), y(0)); g.lineTo(x(a[0]), y(a[1])); g.lineTo(x(b[0]), y(b[1]));
      g.lineTo(x(b[0]), y(0)); g.closePath(); g.fill();
    }
    const line = (index, color, dashed) => {
      g.strokeStyle = color;
      g.lineWidth = 2;
      g.setLineDash(dashed ? [5, 4] : []);
      g.beginPath();
      let drawing = false;
      for (const p of shown) {
        if (p[index] === null || p[index] === undefined) { drawing = false; continue; }
        if (!drawing) g.moveTo(x(p[0]), y(p[index])); else g.lineTo(x(p[0]), y(p[index]));
        drawing = true;
      }
      g.stroke();
      g.setLineDash([]);
    };
    line(3, COLORS.window, true);
    line(1, COLORS.buffer, false);
    line(2, COLORS.flight, false);
  }
}
