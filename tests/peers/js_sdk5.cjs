// Drive Deepgram's own JS SDK 5 (@deepgram/sdk) against a server; run by Node.js.
//
//     node js_sdk5.cjs {v1|v2} ws://127.0.0.1:PORT audio.raw
//
// Streams the 16 kHz mono linear16 file over `listen.v1.connect` (then sendFinalize and
// sendCloseStream) or `listen.v2.connect` (then sendConfigure and sendCloseStream), and
// prints one JSON line per event the SDK delivered: {"event": "open"|"message"|"error"|
// "close", "data": ...}. tests/test_js_sdk_peer.py reads them. The SDK's own reconnect
// policy is left as it ships (reconnect on any close other than 1000), so a server that
// closed badly would show up as a second connection in its logbook.
"use strict";

const fs = require("fs");
const { DeepgramClient } = require("@deepgram/sdk");

const [api, url, path] = process.argv.slice(2);
const audio = fs.readFileSync(path);
const FRAME = api === "v1" ? 3200 : 2560; // 100 ms; 80 ms as Flux recommends

function emit(event, data) {
  process.stdout.write(JSON.stringify({ event, data }) + "\n");
}

async function main() {
  const http = url.replace("ws://", "http://");
  const client = new DeepgramClient({
    apiKey: "peer-test-key",
    environment: { base: http, production: url, agent: url, agentRest: http },
  });
  const args =
    api === "v1"
      ? { model: "nova-3", encoding: "linear16", sample_rate: "16000", interim_results: "true", punctuate: "true" }
      : { model: "flux-general-en", encoding: "linear16", sample_rate: "16000" };
  const socket = await (api === "v1" ? client.listen.v1 : client.listen.v2).connect(args);
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
  if (api === "v1") {
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
