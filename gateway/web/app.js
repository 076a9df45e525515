// The Sluice page: one call at a time, live figures, the conversation.
import { RtcCall } from "./rtc-call.js";
import { WsCall } from "./ws-call.js";

const RATE = 16000;
const RING_MS = 4000;
const GRANT_EVERY_MS = 100;
const $ = (id) => document.getElementById(id);

// Everything the page measures, readable by people and by tests.
const stats = {
  state: "idle", wire: "", bufferedMs: 0, creditMs: null, rttMs: null, staleMs: null,
  underruns: 0, underrunMs: 0, clears: 0, lastClear: null, playedByTurn: {},
  transcripts: [], agentText: [], events: [], closeCode: null, closeReason: "", micDropped: 0,
  callId: null, lastUnderrun: null,
  receivedMs: 0, grantedMs: 0, windowMs: null,
  // WebRTC: the browser's jitter buffer owns playout; the page meters what it played.
  voicedMs: 0, voicedAtClear: null, jitterBufferMs: null, packetsLost: null, concealedSamples: null,
  // [wall-clock ms, audio heard so far in ms, client buffer ms]: what comparison
  // runs line up with the gateway's own record (bounded: oldest half dropped).
  timeline: [],
};
const TIMELINE_MAX = 20000;

function note(heardMs) {
  stats.timeline.push([Date.now(), heardMs, stats.bufferedMs]);
  if (stats.timeline.length > TIMELINE_MAX) stats.timeline.splice(0, TIMELINE_MAX / 2);
}
window.sluice = {
  stats,
  call: startCall,
  hangUp,
  get session() {
    return session;
  },
};

let session = null;

function render() {
  $("f-state").textContent = stats.state;
  $("f-wire").textContent = stats.wire || "–";
  $("f-buffered").textContent = Math.round(stats.bufferedMs);
  $("f-credit").textContent = stats.creditMs === null ? "–" : Math.round(stats.creditMs);
  $("f-rtt").textContent = stats.rttMs === null ? "–" : stats.rttMs.toFixed(1);
  $("f-stale").textContent = stats.staleMs === null ? "–" : Math.round(stats.staleMs);
  $("f-underruns").textContent = stats.underruns;
}

function say(who, text) {
  const li = document.createElement("li");
  li.className = who;
  li.textContent = text;
  $("transcript").append(li);
  li.scrollIntoView({ block: "nearest" });
}

function gatewayUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/browser/ws`;
}

async function openAudio() {
  const ctx = new AudioContext({ sampleRate: RATE });
  await ctx.audioWorklet.addModule("worklets/mic.js");
  await ctx.audioWorklet.addModule("worklets/player.js");
  await ctx.audioWorklet.addModule("worklets/meter.js");
  const media = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  return { ctx, media };
}

async function startCall({ transport = $("transport").value, useStream = true, token = $("token").value } = {}) {
  if (session) return;
  const { ctx, media } = await openAudio();
  session = { ctx, media, call: null, pinger: null };
  if (transport === "webrtc") await startWebRtc(ctx, media, { token });
  else await startWebSocket(ctx, media, { useStream, token });
  await ctx.resume();
  stats.wire = session.call.wire;
  if (session.call.callId) stats.callId = session.call.callId;
  $("call").textContent = "Hang up";
  $("call").classList.add("hangup");
  render();
}

async function startWebSocket(ctx, media, { useStream, token }) {
  const mic = new AudioWorkletNode(ctx, "mic");
  const player = new AudioWorkletNode(ctx, "player", {
    outputChannelCount: [1], processorOptions: { capacityMs: RING_MS },
  });
  const sink = ctx.createGain();
  sink.gain.value = 0; // the mic node must be pulled by the graph to run
  ctx.createMediaStreamSource(media).connect(mic).connect(sink).connect(ctx.destination);
  player.connect(ctx.destination);

  let roomWaiters = [];
  const hasRoom = () => stats.bufferedMs < RING_MS - 500
    ? Promise.resolve() : new Promise((resolve) => roomWaiters.push(resolve));
  const call = new WsCall(gatewayUrl(), { token, useStream, hasRoom });
  Object.assign(session, { call, player, pendingGrantMs: 0 });

  call.onAudio = (turn, offset, pcm) => {
    stats.receivedMs += pcm.byteLength / 32;
    player.port.postMessage({ type: "push", turn, offset, pcm }, [pcm]);
  };
  call.onControl = (msg) => onControl(msg);
  call.onClosed = onClosed;
  player.port.onmessage = (e) => {
    const m = e.data;
    if (m.type === "stats") {
      Object.assign(stats, {
        bufferedMs: m.bufferedMs, underruns: m.underruns, underrunMs: m.underrunMs,
        lastUnderrun: m.lastUnderrun,
        playedByTurn: m.playedByTurn,
      });
      note(Object.values(m.playedByTurn).reduce((a, b) => a + b, 0));
      session.pendingGrantMs += m.playedMs;
      if (session.pendingGrantMs >= GRANT_EVERY_MS || (m.playedMs && m.bufferedMs === 0)) {
        call.grant(session.pendingGrantMs, m.turn, m.positionMs);
        stats.grantedMs += session.pendingGrantMs;
        session.pendingGrantMs = 0;
      }
      if (stats.windowMs !== null) {
        stats.creditMs = stats.windowMs - (stats.receivedMs - stats.grantedMs - session.pendingGrantMs);
      }
      if (stats.bufferedMs < RING_MS - 500) { roomWaiters.forEach((r) => r()); roomWaiters = []; }
    } else if (m.type === "cleared") {
      stats.lastClear = { ...m, at: performance.now() };
      stats.bufferedMs = m.bufferedMs;
      const heard = stats.lastClearHeardMs ?? m.positionMs;
      stats.staleMs = Math.max(0, m.positionMs - heard);
    }
    render();
  };
  mic.port.onmessage = (e) => call.sendAudio(e.data);
  await call.open();
  session.pinger = setInterval(() => call.sendJson({ type: "ping", t: performance.now() }), 2000);
}

async function startWebRtc(ctx, media, { token }) {
  // ?ice=relay: only TURN-relayed paths, to check a TURN server from the page.
  const relayOnly = new URLSearchParams(location.search).get("ice") === "relay";
  const call = new RtcCall(media, { token, relayOnly });
  session.call = call;
  call.onTrack = (stream) => {
    // Chrome only feeds remote WebRTC audio to Web Audio while an element plays it too.
    const element = new Audio();
    element.muted = true;
    element.srcObject = stream;
    element.play().catch(() => {});
    session.element = element;
    const meter = new AudioWorkletNode(ctx, "meter");
    ctx.createMediaStreamSource(stream).connect(meter).connect(ctx.destination);
    meter.port.onmessage = (e) => {
      stats.voicedMs = e.data.voicedMs;
      note(stats.voicedMs);
    };
  };
  call.onStats = (s) => {
    stats.jitterBufferMs = s.jitterBufferMs ?? null;
    stats.bufferedMs = s.jitterBufferMs ?? 0;
    stats.packetsLost = s.packetsLost ?? null;
    stats.concealedSamples = s.concealedSamples ?? null;
    if (s.rttMs !== undefined) stats.rttMs = s.rttMs;
    if (stats.voicedAtClear !== null && stats.clears > 0) {
      stats.staleMs = stats.voicedMs - stats.voicedAtClear;
    }
    render();
  };
  call.onControl = (msg) => onControl(msg);
  call.onClosed = onClosed;
  await call.open();
}

function onClosed(code, reason) {
  stats.closeCode = code;
  stats.closeReason = reason;
  teardown();
}

function onControl(msg) {
  stats.events.push(msg);
  if (stats.events.length > 500) stats.events.splice(0, 250);
  switch (msg.type) {
    case "welcome":
      stats.callId = msg.call_id;
      stats.windowMs = msg.window_ms;
      stats.creditMs = msg.window_ms;
      stats.state = "connected";
      break;
    case "clear":
      // Drop the turn's audio at once: stale audio never plays out.
      stats.clears++;
      stats.lastClearHeardMs = msg.heard_ms;
      if (session.player) {
        stats.receivedMs = stats.grantedMs + session.pendingGrantMs; // the ring is empty of it
        session.player.port.postMessage({ type: "clear", turn: msg.turn });
      } else {
        stats.voicedAtClear = stats.voicedMs; // WebRTC: what plays from here on is stale
      }
      break;
    case "pong":
      stats.rttMs = performance.now() - msg.t;
      break;
    case "state":
      stats.state = msg.state;
      break;
    case "transcript":
      stats.transcripts.push(msg.text);
      say("you", msg.text);
      break;
    case "agent_text":
      stats.agentText.push(msg);
      say("agent", msg.text);
      break;
    case "tool_call": {
      // What the agent asked a tool, and what came back (or the error).
      const args = JSON.stringify(msg.arguments);
      const outcome = msg.error ? `failed: ${msg.error}` : `→ ${JSON.stringify(msg.result)}`;
      say("tool", `🔧 ${msg.name}(${args}) ${outcome}`);
      break;
    }
    case "paused":
      // Paused for your voice: it goes on from here unless you keep talking.
      stats.state = "paused";
      break;
    case "resumed":
      stats.resumes = (stats.resumes || 0) + 1;
      stats.state = "speaking";
      say("cut", `(resumed after ${msg.paused_ms} ms: nothing you heard was lost)`);
      break;
    case "interrupted":
      say("cut", `(interrupted; you heard: “${msg.heard_text}”)`);
      break;
    case "error":
      say("cut", `error: ${msg.code}: ${msg.message}`);
      break;
  }
  render();
}

function teardown() {
  if (!session) return;
  clearInterval(session.pinger);
  session.media.getTracks().forEach((t) => t.stop());
  session.ctx.close();
  if (session.element) session.element.srcObject = null;
  stats.micDropped = session.call.micDropped || 0;
  session = null;
  stats.state = "idle";
  $("call").textContent = "Call";
  $("call").classList.remove("hangup");
  render();
}

function hangUp() {
  if (session) session.call.close();
  teardown();
}

$("call").addEventListener("click", () => (session ? hangUp() : startCall().catch((err) => {
  say("cut", `could not start the call: ${err.message}`);
  teardown();
})));
render();
