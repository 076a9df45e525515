// One call over WebRTC: the microphone track out, the agent's track in, a data
// channel for the gateway's events and the page's playout statistics.
// Non-trickle: the offer goes out with every candidate.
const CONNECT_TIMEOUT_MS = 10000; // no ICE path by then: say so rather than wait on
const STATS_MS = 250; // getStats() this often: NetEq's target moves within a second
const REPORT_EVERY = 2; // the gateway hears every second reading (twice a second)

export class RtcCall {
  constructor(media, { token = "", relayOnly = false } = {}) {
    this.media = media;
    this.token = token;
    this.relayOnly = relayOnly;
    this.onTrack = () => {};
    this.onControl = () => {};
    this.onStats = () => {};
    this.onClosed = () => {};
    this.onConnected = () => {};
    this.closed = false;
    this.resource = null;
    this.last = null; // the previous inbound-rtp report, for current (not lifetime) delays
    this.readings = 0;
  }

  get wire() {
    return "WebRTC";
  }

  get authHeaders() {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  async open() {
    // TURN credentials are made per call and expire: ask for them each time.
    const ice = await fetch("/webrtc/ice-servers", { headers: this.authHeaders });
    if (!ice.ok) throw refused(ice.status, await ice.text());
    const { iceServers } = await ice.json();
    this.pc = new RTCPeerConnection({
      iceServers,
      iceTransportPolicy: this.relayOnly ? "relay" : "all",
    });
    this.media.getAudioTracks().forEach((t) => this.pc.addTrack(t, this.media));
    this.channel = this.pc.createDataChannel("sluice");
    this.channel.onmessage = (e) => this.onControl(JSON.parse(e.data));
    this.pc.ontrack = (e) => this.onTrack(e.streams[0]);
    this.pc.onconnectionstatechange = () => {
      const state = this.pc.connectionState;
      if (state === "connected") this.onConnected();
      if (["failed", "closed"].includes(state)) this.finish(state);
    };
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await new Promise((resolve) => {
      if (this.pc.iceGatheringState === "complete") return resolve();
      this.pc.onicegatheringstatechange = () => this.pc.iceGatheringState === "complete" && resolve();
    });
    const response = await fetch("/webrtc/offer", {
      method: "POST",
      headers: { "content-type": "application/json", ...this.authHeaders },
      body: JSON.stringify({ sdp: this.pc.localDescription.sdp, type: "offer" }),
    });
    if (!response.ok) throw refused(response.status, await response.text());
    const answer = await response.json();
    this.resource = answer.resource;
    this.callId = answer.id;
    await this.pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    this.statsTimer = setInterval(() => this.reportStats(), STATS_MS);
    this.connectTimer = setTimeout(() => {
      if (this.pc.connectionState !== "connected") this.finish("failed");
    }, CONNECT_TIMEOUT_MS);
  }

  async reportStats() {
    const report = await this.pc.getStats();
    const stats = {};
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        // Delay per emitted sample since the last report: the buffer now, not its lifetime mean.
        const last = this.last || { jitterBufferDelay: 0, jitterBufferTargetDelay: 0, jitterBufferEmittedCount: 0 };
        const emitted = (s.jitterBufferEmittedCount || 0) - last.jitterBufferEmittedCount;
        stats.jitterBufferMs = emitted > 0
          ? ((s.jitterBufferDelay - last.jitterBufferDelay) / emitted) * 1000 : null;
        stats.jitterTargetMs = emitted > 0 && s.jitterBufferTargetDelay !== undefined
          ? ((s.jitterBufferTargetDelay - last.jitterBufferTargetDelay) / emitted) * 1000 : null;
        this.last = s;
        stats.packetsLost = s.packetsLost;
        stats.concealedSamples = s.concealedSamples;
        stats.concealmentEvents = s.concealmentEvents;
        stats.insertedSamplesForDeceleration = s.insertedSamplesForDeceleration;
        stats.removedSamplesForAcceleration = s.removedSamplesForAcceleration;
        stats.samplesReceived = s.totalSamplesReceived;
      }
      if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) {
        stats.rttMs = s.currentRoundTripTime * 1000;
      }
    });
    this.onStats(stats);
    this.readings += 1;
    if (this.readings % REPORT_EVERY) return;
    if (this.channel.readyState === "open" && stats.jitterBufferMs !== undefined) {
      this.channel.send(JSON.stringify({
        type: "stats", jitter_buffer_ms: stats.jitterBufferMs, packets_lost: stats.packetsLost,
        concealed_samples: stats.concealedSamples, samples_received: stats.samplesReceived,
      }));
    }
  }

  close() {
    if (this.closed) return;
    if (this.channel && this.channel.readyState === "open") this.channel.send(JSON.stringify({ type: "bye" }));
    if (this.resource) {
      const headers = this.token ? { authorization: `Bearer ${this.token}` } : {};
      fetch(this.resource, { method: "DELETE", headers }).catch(() => {});
    }
    this.finish("bye");
  }

  finish(reason) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.statsTimer);
    clearTimeout(this.connectTimer);
    this.pc.close();
    this.onClosed(reason === "bye" ? 1000 : reason, reason);
  }
}

function refused(status, text) {
  let message = text;
  try {
    message = JSON.parse(text).detail || text;
  } catch (_) { /* plain text */ }
  return Object.assign(new Error(`refused (${status}): ${message}`), { status });
}
