// What went wrong, in words a person understands, and what to do about it.

const CLOSE_CODES = {
  1000: "The call ended.",
  1001: "The gateway went away.",
  1006: "The connection to the gateway was lost.",
  1008: "The gateway refused the call.",
  1009: "The gateway refused a message that was too large.",
  1011: "The gateway hit an internal error and ended the call.",
  1012: "The gateway is stopping (a restart or shutdown) and ended the call.",
  1013: "The gateway is full. Try again in a few seconds.",
};

export function closedMessage(code, reason) {
  const known = CLOSE_CODES[code] || `The gateway closed the call (code ${code}).`;
  return reason && reason !== "bye" ? `${known} It said: “${reason}”.` : known;
}

export function endedMessage(reason) {
  switch (reason) {
    case "gateway stopping":
      return "The gateway is stopping (a restart or shutdown) and ended the call.";
    case "playout stalled":
      return "The gateway ended the call: this page stopped confirming playout.";
    case "voice failed":
      return "The agent's voice failed (its model could not be reached), so the call ended.";
    case "no media":
      return "The gateway heard no audio from this page for too long and ended the call.";
    default:
      return `The gateway ended the call: ${reason}.`;
  }
}

export function microphoneMessage(err) {
  if (err && (err.name === "NotAllowedError" || err.name === "SecurityError")) {
    return [
      "Microphone blocked",
      "This page may not use your microphone. Allow it from the icon at the left of the " +
        "address bar (or in the browser's site settings), then press Call again. Browsers " +
        "give the microphone only to http://localhost or https:// pages.",
    ];
  }
  if (err && err.name === "NotFoundError") {
    return ["No microphone", "No microphone was found. Connect one and press Call again."];
  }
  return ["Microphone unavailable", `The microphone could not be opened: ${err && err.message}`];
}

export function unreachableMessage(host) {
  return [
    "Gateway unreachable",
    `Nothing answers at ${host}. Is the gateway running? Start it with \`make serve\` ` +
      "(or `sluice serve`), then press Call again.",
  ];
}

export function refusedMessage(status, text) {
  if (status === 401) {
    return [
      "Token needed",
      "This gateway needs an access token (its browser_token). Enter it in the Access token " +
        "field and press Call again.",
    ];
  }
  if (status === 503) return ["Gateway full", "The gateway is full. Try again in a few seconds."];
  return ["Call refused", `The gateway refused the call (${status}): ${text}`];
}

export function noWebRtcPathMessage() {
  return [
    "No WebRTC path",
    "The browser and the gateway found no network path to each other. On one machine, the " +
      "gateway advertises 127.0.0.1 when it listens on loopback; elsewhere set " +
      "webrtc_host_addresses (--webrtc-host-addresses) to an address this browser reaches, " +
      "or a TURN server (webrtc_turn_url). Or choose WebSocket.",
  ];
}
