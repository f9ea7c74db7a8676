#!/usr/bin/env node
// An application in another language using Wasmbay's plugins through the engine API:
// it lists the installed plugins, then calls one and prints which version served the call
// and how long the plugin took. Node 20's http module speaks HTTP over a Unix socket
// (`socketPath`); nothing else is needed (no npm install).
//
//   node examples/node-client/index.js echo "hello"               # list, then call echo
//   node examples/node-client/index.js echo "hello" --request-id order-17 --option log=1
//   node examples/node-client/index.js --list                     # only list
//
// The host is `wasmbay serve` or the open window. Its socket (the same rule as
// wasmbay.api.lock.socket_path): $WASMBAY_SOCKET or --socket PATH if given; else
// $WASMBAY_HOME/run/wasmbay.sock when WASMBAY_HOME is set; else
// $XDG_RUNTIME_DIR/wasmbay/wasmbay.sock; else <data folder>/run/wasmbay.sock.
"use strict";

const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");

function socketPath(explicit) {
  if (explicit) return explicit;
  if (process.env.WASMBAY_SOCKET) return process.env.WASMBAY_SOCKET;
  const home = process.env.WASMBAY_HOME;
  if (home) {
    const root = path.resolve(home.replace(/^~(?=$|\/)/, os.homedir()));
    const real = fs.existsSync(root) ? fs.realpathSync(root) : root;
    return path.join(real, "run", "wasmbay.sock");
  }
  const runtime = process.env.XDG_RUNTIME_DIR;
  if (runtime && fs.existsSync(runtime) && fs.statSync(runtime).isDirectory()) {
    return path.join(runtime, "wasmbay", "wasmbay.sock");
  }
  const data = process.env.XDG_DATA_HOME || path.join(os.homedir(), ".local", "share");
  return path.join(data, "wasmbay", "run", "wasmbay.sock");
}

class ApiError extends Error {
  constructor(status, error) {
    const hint = error.hint ? ` (${error.hint})` : "";
    super(`${error.kind}: ${error.message}${hint}`);
    this.status = status;
    this.kind = error.kind;
  }
}

// One request; resolves with the answer's JSON, rejects with an ApiError for an error answer.
function request(socket, method, url, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        socketPath: socket, method, path: url,
        headers: {
          Accept: "application/json",
          ...(payload ? { "Content-Type": "application/json",
                          "Content-Length": payload.length } : {}),
        },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let data = null;
          try {
            data = text ? JSON.parse(text) : null;
          } catch (e) {
            return reject(new Error(`the host answered HTTP ${res.statusCode}: ${text}`));
          }
          if (res.statusCode >= 400) {
            return reject(new ApiError(res.statusCode, (data && data.error) ||
              { kind: "error", message: `HTTP ${res.statusCode}`, hint: "" }));
          }
          resolve(data);
        });
      });
    req.on("error", (e) => reject(new Error(
      `cannot reach the Wasmbay host on ${socket}: ${e.message} ` +
      "(start it with `wasmbay serve`, or open the window)")));
    if (payload) req.write(payload);
    req.end();
  });
}

function parseArgs(argv) {
  const args = { positional: [], options: {}, requestId: null, socket: null, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--request-id") args.requestId = argv[++i];
    else if (a === "--socket") args.socket = argv[++i];
    else if (a === "--list") args.list = true;
    else if (a === "--option") {
      const [k, ...v] = String(argv[++i]).split("=");
      args.options[k] = v.join("=");
    } else args.positional.push(a);
  }
  return args;
}

// Plugin text is the plugin's own: show it without terminal control characters.
const clean = (s) => String(s).replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g,
                                       (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const socket = socketPath(args.socket);
  const { plugins } = await request(socket, "GET", "/v1/plugins");
  console.log(`${plugins.length} plugin(s) on ${socket}:`);
  for (const p of plugins) {
    const canary = p.canary ? ` canary ${clean(p.canary)} at ${p.canary_percent}%` : "";
    console.log(`  ${clean(p.plugin_id)} ${clean(p.stable)} ${p.state}${canary}`);
  }
  if (args.list) return 0;
  const [pluginId, input] = args.positional;
  if (pluginId === undefined || input === undefined) {
    console.error("usage: node index.js PLUGIN INPUT [--request-id ID] [--option K=V] " +
                  "[--socket PATH] | --list");
    return 2;
  }
  const body = { input, options: args.options };
  if (args.requestId) body.request_id = args.requestId;
  const r = await request(socket, "POST",
                          `/v1/plugins/${encodeURIComponent(pluginId)}/process`, body);
  console.log(`output: ${clean(r.output)}`);
  console.log(`success: ${r.success}${r.success ? "" : ` (${clean(r.error_message)})`}`);
  console.log(`served_by: ${clean(r.served_by)}`);
  console.log(`duration_ms: ${r.duration_ms}`);
  return r.success ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (e) => {
  console.error(`node-client: ${e.message}`);
  process.exitCode = e instanceof ApiError ? 3 : 4;
});
