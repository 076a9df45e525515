// One call over sluice.browser v1 (docs/browser-protocol.md). Uses
// WebSocketStream where the browser has it, reading only while the playout
// ring has room; otherwise a classic WebSocket, throttling the microphone on
// bufferedAmount.
const HEADER = 8;
const MIC_BACKLOG_BYTES = 640 * 8; // 160 ms of microphone audio queued locally

export class WsCall {
  constructor(url, { token = "", windowMs = 800, useStream = true, hasRoom = async () => {} }) {
    this.url = url;
    this.token = token;
    this.windowMs = windowMs;
    this.useStream = useStream && "WebSocketStream" in globalThis;
    this.hasRoom = hasRoom;
    this.epoch = 0;
    this.micDropped = 0;
    this.onAudio = () => {};
    this.onControl = () => {};
    this.onClosed = () => {};
    this.closed = false;
    this.opened = false; // microphone frames before the socket is open are dropped
  }

  get wire() {
    return this.useStream ? "WebSocketStream" : "WebSocket";
  }

  hello() {
    return JSON.stringify({
      type: "hello", protocol: "sluice.browser", version: 1, token: this.token,
      // Up to 100 ms of audio per message: a tenth of the messages, the same playout.
      window_ms: this.windowMs, audio_ms: 100, client: { transport: this.useStream ? "websocketstream" : "websocket" },
    });
  }

  async open() {
    if (this.useStream) {
      this.wss = new WebSocketStream(this.url);
      const { readable, writable } = await this.wss.opened;
      this.writer = writable.getWriter();
      this.reader = readable.getReader();
      await this.writer.write(this.hello());
      this.opened = true;
      this.readLoop();
      this.wss.closed.then((info) => this.finish(info.closeCode, info.reason),
                           () => this.finish(1006, ""));
    } else {
      this.ws = new WebSocket(this.url);
      this.ws.binaryType = "arraybuffer";
      await new Promise((resolve, reject) => {
        this.ws.onopen = resolve;
        this.ws.onerror = () => reject(new Error("connection failed"));
      });
      this.ws.onmessage = (e) => this.receive(e.data);
      this.ws.onclose = (e) => this.finish(e.code, e.reason);
      this.ws.send(this.hello());
      this.opened = true;
    }
  }

  async readLoop() {
    try {
      while (true) {
        await this.hasRoom(); // backpressure: no read while the ring is full
        const { value, done } = await this.reader.read();
        if (done) return;
        this.receive(value);
      }
    } catch (_) { /* closed */ }
  }

  receive(data) {
    if (typeof data === "string") {
      const msg = JSON.parse(data);
      if (msg.type === "welcome" || msg.type === "clear") this.epoch = msg.epoch;
      this.onControl(msg);
      return;
    }
    const buffer = data instanceof ArrayBuffer ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    const view = new DataView(buffer);
    this.onAudio(view.getUint32(0, true), view.getUint32(4, true), buffer.slice(HEADER));
  }

  send(data) {
    if (this.closed || !this.opened) return;
    if (this.useStream) {
      this.writer.write(data).catch(() => {});
    } else if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(data);
    }
  }

  sendAudio(buffer) {
    if (!this.opened) return;
    // A classic WebSocket queues without limit; never let the microphone pile up there.
    if (!this.useStream && this.ws.bufferedAmount > MIC_BACKLOG_BYTES) {
      this.micDropped++;
      return;
    }
    this.send(new Uint8Array(buffer));
  }

  sendJson(message) {
    this.send(JSON.stringify(message));
  }

  grant(ms, turn, positionMs) {
    if (ms > 0) this.sendJson({ type: "grant", ms: Math.round(ms), epoch: this.epoch });
    if (turn > 0) this.sendJson({ type: "played", turn, position_ms: Math.round(positionMs) });
  }

  close() {
    if (this.closed) return;
    if (this.useStream) {
      // Closing the writable closes the socket. WebSocketStream.close() while the
      // reader waits in read() crashed Chromium 156's renderer in about one
      // hang-up in seven here (none in 24 this way); recheck with newer Chromium.
      this.writer.write(JSON.stringify({ type: "bye" }))
        .then(() => this.writer.close())
        .catch(() => {});
    } else {
      this.sendJson({ type: "bye" });
      this.ws.close(1000, "bye");
    }
  }

  finish(code, reason) {
    if (this.closed) return;
    this.closed = true;
    this.onClosed(code, reason);
  }
}
