// The page's figures: what it measures (readable by people and by tests, as
// window.sluice.stats) and how they are shown. Definitions: docs/reference/figures.md.
const $ = (id) => document.getElementById(id);

// Everything the page measures, readable by people and by tests.
export function freshStats() {
  return {
    state: "idle", wire: "", bufferedMs: 0, creditMs: null, rttMs: null, staleMs: null,
    underruns: 0, underrunMs: 0, clears: 0, lastClear: null, playedByTurn: {}, receivedByTurn: {},
    transcripts: [], agentText: [], events: [], closeCode: null, closeReason: "", micDropped: 0,
    callId: null, lastUnderrun: null, endReason: null, problem: null,
    receivedMs: 0, grantedMs: 0, windowMs: null, inFlightMs: null,
    // WebRTC: the browser's jitter buffer owns playout; the page meters what it played.
    voicedMs: 0, voicedAtClear: null, jitterBufferMs: null, jitterTargetMs: null,
    packetsLost: null, concealedSamples: null,
    rtcStats: [], // every getStats() reading over WebRTC (see app.js)
    // The microphone: when capture began, and when each spell of voice began
    // (wall-clock ms), so that a comparison knows when the caller spoke.
    micStartedAt: null, micOnsets: [],
    // Per turn: first audio, heard, sent, stale; the same definitions as the docs.
    turns: {},
    // [wall-clock ms, audio heard so far in ms, client buffer ms]: what comparison
    // runs line up with the gateway's own record (bounded: oldest half dropped).
    timeline: [],
  };
}
// One turn's figures, created when the turn is first seen.
export function turnStats(stats, turnId) {
  if (!stats.turns[turnId]) {
    stats.turns[turnId] = { ttfaMs: null, heardMs: 0, sentMs: null, staleMs: null, askedAt: null };
  }
  return stats.turns[turnId];
}

function turnLine(t) {
  const parts = [];
  if (t.ttfaMs !== null) parts.push(`first audio ${Math.round(t.ttfaMs)} ms`);
  const heard = (t.heardMs / 1000).toFixed(1);
  if (t.sentMs !== null) parts.push(`heard ${heard} s of ${(t.sentMs / 1000).toFixed(1)} s sent`);
  else if (t.heardMs) parts.push(`heard ${heard} s`);
  if (t.staleMs !== null) parts.push(`stale ${Math.round(t.staleMs)} ms`);
  return parts.join(" · ");
}

export function render(stats, conversation) {
  const state = $("f-state");
  state.textContent = stats.state;
  state.dataset.state = stats.state;
  $("f-wire").textContent = stats.wire ? `over ${stats.wire}` : "";
  $("f-buffered").textContent = Math.round(stats.bufferedMs);
  $("f-credit").textContent = stats.creditMs === null ? "–" : Math.round(stats.creditMs);
  $("f-window").textContent = stats.windowMs === null ? "–" : Math.round(stats.windowMs);
  $("f-rtt").textContent = stats.rttMs === null ? "–" : stats.rttMs.toFixed(1);
  $("f-stale").textContent = stats.staleMs === null ? "–" : Math.round(stats.staleMs);
  $("f-underruns").textContent = stats.underruns;
  $("f-underrun-note").textContent = stats.underruns
    ? `${Math.round(stats.underrunMs)} ms of gaps in all` : "";
  for (const [id, t] of Object.entries(stats.turns)) conversation.figures(Number(id), turnLine(t));
}
