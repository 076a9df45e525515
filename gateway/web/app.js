// The Sluice page: one call at a time, a live plot, figures, the conversation.
import { Conversation } from "./conversation.js";
import { freshStats, render as renderFigures, turnStats as turnOf } from "./figures.js";
import {
  closedMessage, endedMessage, microphoneMessage, noWebRtcPathMessage, refusedMessage,
  unreachableMessage,
} from "./messages.js";
import { Plot } from "./plot.js";
import { RtcCall } from "./rtc-call.js";
import { WsCall } from "./ws-call.js";

const RATE = 16000;
const RING_MS = 4000;
const GRANT_EVERY_MS = 100;
const STALE_SETTLE_MS = 200; // WebRTC: the old turn has stopped playing after this much quiet
const TIMELINE_MAX = 20000;
const RTC_STATS_MAX = 4800; // 20 minutes of readings every 250 ms
const MIC_ONSETS_MAX = 1000;
const $ = (id) => document.getElementById(id);

const stats = freshStats();
const conversation = new Conversation($("transcript"));
const plot = new Plot($("plot"));

let session = null;
let micVoiceEndedAt = null; // when the caller's voice last stopped, on performance.now()
let stale = null;           // the interrupt being measured: { turn, heardMs, voicedAt, lastGrowth }

window.sluice = {
  stats,
  call: startCall,
  hangUp,
  get session() {
    return session;
  },
};

// `at`: when a worklet measured it, on the audio clock (its messages reach this
// thread late, and unevenly when the page is busy).
function note(heardMs, ctx, at) {
  stats.timeline.push([Date.now() - (ctx.currentTime - at) * 1000, heardMs, stats.bufferedMs]);
  if (stats.timeline.length > TIMELINE_MAX) stats.timeline.splice(0, TIMELINE_MAX / 2);
}

function turnStats(turnId) {
  return turnOf(stats, turnId);
}

function show(title, text) {
  stats.problem = { title, text };
  $("notice-title").textContent = title;
  $("notice-text").textContent = text;
  $("notice").hidden = false;
  conversation.problem(title, text);
}

function hideNotice() {
  stats.problem = null;
  $("notice").hidden = true;
}

function render() {
  renderFigures(stats, conversation);
}

function gatewayUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/browser/ws`;
}

// Before asking for the microphone: is anything there to call?
async function reachable() {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 3000);
  try {
    const response = await fetch("/healthz", { cache: "no-store", signal: abort.signal });
    return response.ok;
  } catch (_) {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

async function openAudio() {
  const ctx = new AudioContext({ sampleRate: RATE });
  await ctx.audioWorklet.addModule("worklets/mic.js");
  await ctx.audioWorklet.addModule("worklets/player.js");
  await ctx.audioWorklet.addModule("worklets/meter.js");
  let media;
  try {
    media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
  } catch (err) {
    ctx.close();
    throw Object.assign(new Error(err.message), { shown: microphoneMessage(err) });
  }
  // The caller's own voice, metered: time to first audio runs from where it stops.
  const micMeter = new AudioWorkletNode(ctx, "meter");
  const mute = ctx.createGain();
  mute.gain.value = 0;
  ctx.createMediaStreamSource(media).connect(micMeter).connect(mute).connect(ctx.destination);
  stats.micStartedAt = Date.now();
  let onset = null;
  micMeter.port.onmessage = (e) => {
    if (e.data.lastVoicedAt === null) return;
    micVoiceEndedAt = performance.now() - (ctx.currentTime - e.data.lastVoicedAt) * 1000;
    if (e.data.lastOnsetAt !== onset && stats.micOnsets.length < MIC_ONSETS_MAX) {
      onset = e.data.lastOnsetAt;
      // On the wall clock, as the timeline: when the caller's voice began.
      stats.micOnsets.push(Date.now() - (ctx.currentTime - onset) * 1000);
    }
  };
  return { ctx, media };
}

function resetForCall() {
  const fresh = freshStats();
  for (const key of Object.keys(stats)) delete stats[key];
  Object.assign(stats, fresh);
  conversation.clear();
  plot.reset();
  hideNotice();
  micVoiceEndedAt = null;
  stale = null;
}

async function startCall({ transport = $("transport").value, useStream = true, token = $("token").value } = {}) {
  if (session) return;
  resetForCall();
  if (!(await reachable())) throw Object.assign(new Error("unreachable"), { shown: unreachableMessage(location.host) });
  const { ctx, media } = await openAudio();
  session = { ctx, media, call: null, pinger: null, connectedAt: performance.now(), connected: false };
  if (transport === "webrtc") await startWebRtc(ctx, media, { token });
  else await startWebSocket(ctx, media, { useStream, token });
  await ctx.resume();
  stats.wire = session.call.wire;
  if (session.call.callId) stats.callId = session.call.callId;
  $("call").textContent = "Hang up";
  $("call").classList.add("hangup");
  plot.start();
  render();
}

function firstPlayed(turnId, at) {
  const t = turnStats(turnId);
  if (t.ttfaMs !== null) return;
  // The greeting answers the connect; a reply answers the end of the caller's voice.
  const from = turnId === 1 || t.askedAt === null ? session.connectedAt : t.askedAt;
  t.ttfaMs = Math.max(0, at - from);
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
  $("legend-buffer").textContent = "far end's buffer";
  $("legend-flight").textContent = "in flight (credit used)";
  $("legend-window").textContent = "window";
  Object.assign(session, { call, player, pendingGrantMs: 0 });

  call.onAudio = (turn, offset, pcm) => {
    const ms = pcm.byteLength / 32;
    stats.receivedMs += ms;
    stats.receivedByTurn[turn] = (stats.receivedByTurn[turn] || 0) + ms;
    turnStats(turn).sentMs = stats.receivedByTurn[turn];
    player.port.postMessage({ type: "push", turn, offset, pcm }, [pcm]);
  };
  call.onControl = (msg) => onControl(msg);
  call.onClosed = onClosed;
  player.port.onmessage = (e) => {
    if (!session || session.player !== player) return; // a report that outlived its call
    const m = e.data;
    const now = performance.now();
    if (m.type === "stats") {
      if (m.underruns > stats.underruns) plot.mark(now, "underrun");
      Object.assign(stats, {
        bufferedMs: m.bufferedMs, underruns: m.underruns, underrunMs: m.underrunMs,
        lastUnderrun: m.lastUnderrun, playedByTurn: m.playedByTurn,
      });
      for (const [turn, played] of Object.entries(m.playedByTurn)) {
        if (played > 0) firstPlayed(Number(turn), now - m.playedMs);
        turnStats(turn).heardMs = played;
      }
      note(Object.values(m.playedByTurn).reduce((a, b) => a + b, 0), ctx, m.at);
      session.pendingGrantMs += m.playedMs;
      if (session.pendingGrantMs >= GRANT_EVERY_MS || (m.playedMs && m.bufferedMs === 0)) {
        call.grant(session.pendingGrantMs, m.turn, m.positionMs);
        stats.grantedMs += session.pendingGrantMs;
        session.pendingGrantMs = 0;
      }
      if (stats.windowMs !== null) {
        // In flight as the gateway counts it: received here, not yet granted back.
        stats.inFlightMs = Math.max(0, stats.receivedMs - stats.grantedMs - session.pendingGrantMs);
        stats.creditMs = Math.max(0, stats.windowMs - stats.inFlightMs);
      }
      plot.sample(now, stats.bufferedMs, stats.inFlightMs, stats.windowMs);
      if (stats.bufferedMs < RING_MS - 500) { roomWaiters.forEach((r) => r()); roomWaiters = []; }
    } else if (m.type === "cleared") {
      stats.lastClear = { ...m, at: now };
      stats.bufferedMs = m.bufferedMs;
      // The worklet has dropped the turn: what it held is no longer in flight, and
      // grants start over in the clear's new epoch.
      stats.receivedMs = stats.grantedMs + session.pendingGrantMs;
      const heard = stats.lastClearHeardMs ?? m.positionMs;
      stats.staleMs = Math.max(0, m.positionMs - heard);
      turnStats(m.turn).staleMs = stats.staleMs;
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
      if (!session || session.call !== call) return; // a report that outlived its call
      const now = performance.now();
      const grew = e.data.voicedMs > stats.voicedMs;
      stats.voicedMs = e.data.voicedMs;
      note(stats.voicedMs, ctx, e.data.at);
      if (grew && stats.state === "speaking") firstPlayed(session.speakingTurn, now);
      if (stale) {
        // Stale audio: what played of the interrupted turn after the clear, until
        // the jitter buffer ran out of it (quiet), or another turn began.
        if (grew) stale.lastGrowth = now;
        stats.staleMs = stats.voicedMs - stale.voicedAt;
        turnStats(stale.turn).staleMs = stats.staleMs;
        if (now - stale.lastGrowth > STALE_SETTLE_MS) stale = null;
      }
    };
  };
  call.onStats = (s) => {
    if (!session || session.call !== call) return;
    const now = performance.now();
    stats.jitterBufferMs = s.jitterBufferMs ?? null;
    stats.jitterTargetMs = s.jitterTargetMs ?? null;
    stats.bufferedMs = s.jitterBufferMs ?? 0;
    stats.packetsLost = s.packetsLost ?? null;
    stats.concealedSamples = s.concealedSamples ?? null;
    if (s.rttMs !== undefined) stats.rttMs = s.rttMs;
    // Every reading, for comparison runs: [wall-clock ms, jitter buffer ms, its
    // target ms, concealed samples, concealment events, samples inserted to
    // slow down, removed to speed up, packets lost, round trip ms].
    stats.rtcStats.push([Date.now(), s.jitterBufferMs ?? null, s.jitterTargetMs ?? null,
      s.concealedSamples ?? null, s.concealmentEvents ?? null,
      s.insertedSamplesForDeceleration ?? null, s.removedSamplesForAcceleration ?? null,
      s.packetsLost ?? null, s.rttMs ?? null]);
    if (stats.rtcStats.length > RTC_STATS_MAX) stats.rtcStats.splice(0, RTC_STATS_MAX / 2);
    plot.sample(now, stats.jitterBufferMs, stats.jitterTargetMs, null);
    render();
  };
  call.onConnected = () => { session.connected = true; };
  call.onControl = (msg) => onControl(msg);
  call.onClosed = onClosed;
  $("legend-buffer").textContent = "jitter buffer: current delay";
  $("legend-flight").textContent = "jitter buffer: target delay";
  $("legend-window").textContent = "(no credit window: the gateway paces)";
  await call.open();
}

function onClosed(code, reason) {
  stats.closeCode = code;
  stats.closeReason = reason;
  const wasConnected = session && (session.connected || session.call.wire !== "WebRTC");
  const hungUp = session && session.hangingUp;
  if (!hungUp && !stats.endReason && stats.problem === null) {
    if (code === "failed" && !wasConnected) show(...noWebRtcPathMessage());
    else if (code === "failed") show("Connection lost", "The connection to the gateway was lost.");
    else if (code !== 1000) show("Call ended", closedMessage(code, reason));
  }
  teardown();
}

function onControl(msg) {
  stats.events.push(msg);
  if (stats.events.length > 500) stats.events.splice(0, 250);
  const now = performance.now();
  switch (msg.type) {
    case "welcome":
      stats.callId = msg.call_id;
      stats.windowMs = msg.window_ms;
      stats.creditMs = msg.window_ms;
      stats.inFlightMs = 0;
      stats.state = "connected";
      break;
    case "clear":
      // Drop the turn's audio at once: stale audio never plays out.
      stats.clears++;
      stats.lastClearHeardMs = msg.heard_ms;
      plot.mark(now, "clear");
      if (session && session.player) {
        session.player.port.postMessage({ type: "clear", turn: msg.turn });
      } else {
        stats.voicedAtClear = stats.voicedMs; // WebRTC: what plays from here on is stale
        stats.staleMs = 0;
        stale = { turn: msg.turn, voicedAt: stats.voicedMs, lastGrowth: now };
        turnStats(msg.turn).staleMs = 0;
      }
      break;
    case "pong":
      stats.rttMs = performance.now() - msg.t;
      break;
    case "state":
      if (msg.state === "speaking" && session) {
        session.speakingTurn = msg.turn_id;
        if (stale && msg.turn_id !== stale.turn) stale = null; // the next reply is not stale
      }
      if (msg.state === "thinking") turnStats(msg.turn_id).askedAt = micVoiceEndedAt;
      stats.state = msg.state;
      break;
    case "transcript":
      stats.transcripts.push(msg.text);
      conversation.youSaid(msg.text);
      plot.mark(now, "voice");
      break;
    case "agent_text":
      stats.agentText.push(msg);
      conversation.agentSaid(msg.turn_id, msg.text);
      turnStats(msg.turn_id);
      break;
    case "playout":
      // The gateway's confirmed playout position: on WebRTC, the heard figure per turn.
      if (!session || !session.player) turnStats(msg.turn_id).heardMs = msg.position_ms;
      break;
    case "tool_call": {
      // What the agent asked a tool, and what came back (or the error).
      const args = JSON.stringify(msg.arguments);
      const outcome = msg.error ? `failed: ${msg.error}` : `→ ${JSON.stringify(msg.result)}`;
      conversation.tool(`${msg.name}(${args}) ${outcome}`);
      break;
    }
    case "paused":
      // Paused for your voice: it goes on from here unless you keep talking.
      stats.state = "paused";
      plot.mark(now, "voice");
      break;
    case "resumed":
      stats.resumes = (stats.resumes || 0) + 1;
      stats.state = "speaking";
      if (stale && stale.turn === msg.turn_id) stale = null; // it plays on: not stale
      conversation.note(msg.turn_id, `paused ${msg.paused_ms} ms for your voice, then resumed where you were`);
      break;
    case "interrupted":
      conversation.interrupted(msg.turn_id, msg.heard_text);
      turnStats(msg.turn_id).heardMs = msg.heard_ms;
      break;
    case "call_ended":
      stats.endReason = msg.reason;
      if (msg.reason !== "caller hung up") show("Call ended", endedMessage(msg.reason));
      break;
    case "error":
      if (msg.code === "bad_token") show(...refusedMessage(401, msg.message));
      else if (msg.fatal) show("Call refused", `${msg.message} (${msg.code})`);
      else conversation.problem("Protocol error", `${msg.code}: ${msg.message}`);
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
  stale = null;
  // Nothing is buffered or in flight once the call is gone: the figures say so.
  Object.assign(stats, { state: "idle", bufferedMs: 0, creditMs: null, inFlightMs: null });
  plot.stop();
  $("call").textContent = "Call";
  $("call").classList.remove("hangup");
  render();
}

function hangUp() {
  if (session) {
    session.hangingUp = true;
    session.call.close();
  }
  teardown();
}

$("call").addEventListener("click", () => (session ? hangUp() : startCall().catch((err) => {
  if (err.shown) show(...err.shown);
  else if (err.status) show(...refusedMessage(err.status, err.message));
  else show("Could not start the call", err.message);
  teardown();
})));
render();
