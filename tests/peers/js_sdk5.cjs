// Drive Deepgram's own JS SDK 5 (@deepgram/sdk) against a server; run by Node.js.
//
//     node js_sdk5.cjs {v1|v1-webm|v2} ws://127.0.0.1:PORT audio
//
// Streams the 16 kHz mono linear16 file over `listen.v1.connect` (then sendFinalize and
// sendCloseStream), a WebM/Opus file as a browser's MediaRecorder would (v1-webm: no
// encoding given, 4 KB pieces), or over `listen.v2.connect` (then sendConfigure and
// sendCloseStream), and
// prints one JSON line per event the SDK delivered: {"event": "open"|"message"|"error"|
// "close", "data": ...}. tests/test_js_sdk_peer.py reads them. The SDK's own reconnect
// policy is left as it ships (reconnect on any close other than 1000), so a server that
// closed badly would show up as a second connection in its logbook.
"use strict";

const fs = require("fs");
const { DeepgramClient } = require("@deepgram/sdk");

const [api, url, path] = process.argv.slice(2);
const audio = fs.readFileSync(path);
const FRAME = { v1: 3200, "v1-webm": 4096, v2: 2560 }[api]; // 100 ms; MediaRecorder-ish; 80 ms (Flux)

function emit(event, data) {
  process.stdout.write(JSON.stringify({ event, data }) + "\n");
}

async function main() {
  const http = url.replace("ws://", "http://");
  const client = new DeepgramClient({
    apiKey: "peer-test-key",
    environment: { base: http, production: url, agent: url, agentRest: http },
  });
  const args = {
    v1: { model: "nova-3", encoding: "linear16", sample_rate: "16000", interim_results: "true", punctuate: "true" },
    "v1-webm": { model: "nova-3", interim_results: "true", punctuate: "true" }, // the container says
    v2: { model: "flux-general-en", encoding: "linear16", sample_rate: "16000" },
  }[api];
  const v1 = api !== "v2";
  const socket = await (v1 ? client.listen.v1 : client.listen.v2).connect(args);
  let ended = false; // close() after the server's close fires "close" once more: not news
  const closed = new Promise((resolve) => {
    socket.on("close", (event) => {
      if (!ended) emit("close", { code: event.code, reason: event.reason });
      ended = true;
      resolve();
    });
  });
  socket.on("open", () => emit("open", null));
  socket.on("message", (message) => emit("message", message));
  socket.on("error", (error) => emit("error", { message: String(error && error.message) }));
  socket.connect();
  await socket.waitForOpen();
  for (let i = 0; i < audio.length; i += FRAME) {
    socket.sendMedia(audio.subarray(i, i + FRAME));
  }
  if (v1) {
    socket.sendFinalize({ type: "Finalize" });
  } else {
    socket.sendConfigure({ type: "Configure", thresholds: { eot_threshold: 0.8 } });
  }
  socket.sendCloseStream({ type: "CloseStream" });
  await closed;
  socket.close();
}

const guard = setTimeout(() => {
  emit("error", { message: "timed out waiting for the close" });
  process.exit(3);
}, 30000);

main().then(
  () => {
    clearTimeout(guard);
    process.exit(0);
  },
  (error) => {
    emit("error", { message: String(error && error.stack) });
    process.exit(2);
  },
);
