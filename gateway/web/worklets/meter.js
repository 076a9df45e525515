// Passes audio through and measures how much of it is voiced: the page's own
// record of what it played, for the WebRTC path where the browser's jitter
// buffer (not the page) owns playout.
const VOICED = 500 / 32768;
const REPORT_EVERY = 6;
const ONSET_QUIET_S = 0.25; // voice after this much quiet starts a new spell

class MeterProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.voicedSamples = 0;
    this.quanta = 0;
    this.lastVoicedAt = null;
    this.lastOnsetAt = null;
  }

  process(inputs, outputs) {
    const input = inputs[0][0];
    const output = outputs[0][0];
    if (input) {
      output.set(input);
      let peak = 0;
      for (let i = 0; i < input.length; i++) peak = Math.max(peak, Math.abs(input[i]));
      if (peak > VOICED) {
        if (this.lastVoicedAt === null || currentTime - this.lastVoicedAt > ONSET_QUIET_S) {
          this.lastOnsetAt = currentTime;
        }
        this.voicedSamples += input.length;
        this.lastVoicedAt = currentTime;
      }
    }
    if (++this.quanta % REPORT_EVERY === 0) {
      this.port.postMessage({
        at: currentTime,
        voicedMs: this.voicedSamples * 1000 / sampleRate,
        lastVoicedAt: this.lastVoicedAt,
        lastOnsetAt: this.lastOnsetAt,
      });
    }
    return true;
  }
}

registerProcessor("meter", MeterProcessor);
