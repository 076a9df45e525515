// Playout from a bounded ring of turn-stamped frames, in real time.
// Reports what it played so the page can grant credit and ack positions;
// `clear` drops a turn's frames at once and reports where playout was.
const RATE = 16000;
const REPORT_EVERY = 6; // render quanta: 48 ms at 16 kHz

class PlayerProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.capacityMs = (options.processorOptions && options.processorOptions.capacityMs) || 4000;
    this.frames = [];           // {turn, offset, samples: Float32Array, pos}
    this.bufferedSamples = 0;
    this.playedSamples = 0;     // since the last report
    this.turn = 0;
    this.positionMs = 0;
    this.dryAfterTurn = null;   // the turn that was playing when the ring ran dry
    this.drySamples = 0;
    this.underruns = 0;
    this.underrunMs = 0;
    this.lastUnderrun = null;
    this.overflows = 0;
    this.quanta = 0;
    this.playedByTurn = {};
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(msg) {
    if (msg.type === "push") {
      const pcm = new Int16Array(msg.pcm);
      if ((this.bufferedSamples + pcm.length) * 1000 / RATE > this.capacityMs) {
        this.overflows++;
        return;
      }
      const samples = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
      if (this.dryAfterTurn !== null && this.dryAfterTurn === msg.turn && this.drySamples > 0) {
        this.underruns++;
        this.underrunMs += this.drySamples * 1000 / RATE;
        // Where the gap fell, so that one can be traced to its turn and offset.
        this.lastUnderrun = { turn: msg.turn, offsetMs: msg.offset, gapMs: this.drySamples * 1000 / RATE };
      }
      this.dryAfterTurn = null;
      this.drySamples = 0;
      this.frames.push({ turn: msg.turn, offset: msg.offset, samples, pos: 0 });
      this.bufferedSamples += samples.length;
    } else if (msg.type === "clear") {
      let dropped = 0;
      this.frames = this.frames.filter((f) => {
        if (f.turn !== msg.turn) return true;
        dropped += f.samples.length - f.pos;
        return false;
      });
      this.bufferedSamples -= dropped;
      this.dryAfterTurn = null;
      this.port.postMessage({
        type: "cleared", turn: msg.turn, droppedMs: dropped * 1000 / RATE,
        positionMs: this.turn === msg.turn ? this.positionMs : 0,
        bufferedMs: this.bufferedSamples * 1000 / RATE,
      });
    }
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    let i = 0;
    while (i < out.length && this.frames.length) {
      const f = this.frames[0];
      const n = Math.min(out.length - i, f.samples.length - f.pos);
      out.set(f.samples.subarray(f.pos, f.pos + n), i);
      f.pos += n;
      i += n;
      this.bufferedSamples -= n;
      this.playedSamples += n;
      this.turn = f.turn;
      this.positionMs = f.offset + f.pos * 1000 / RATE;
      this.playedByTurn[f.turn] = (this.playedByTurn[f.turn] || 0) + n * 1000 / RATE;
      if (f.pos === f.samples.length) this.frames.shift();
    }
    if (i < out.length) {
      out.fill(0, i);
      if (this.playedSamples > 0 || this.dryAfterTurn === null) this.dryAfterTurn = this.turn;
      this.drySamples += out.length - i;
    }
    if (++this.quanta % REPORT_EVERY === 0 || (this.playedSamples && !this.frames.length)) {
      this.port.postMessage({
        type: "stats",
        at: currentTime, // when this was measured: the page stamps its timeline with it
        playedMs: this.playedSamples * 1000 / RATE,
        bufferedMs: this.bufferedSamples * 1000 / RATE,
        turn: this.turn, positionMs: this.positionMs,
        underruns: this.underruns, underrunMs: this.underrunMs, lastUnderrun: this.lastUnderrun,
        overflows: this.overflows, playedByTurn: this.playedByTurn,
      });
      this.playedSamples = 0;
    }
    return true;
  }
}

registerProcessor("player", PlayerProcessor);
