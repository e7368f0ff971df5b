// Drive node-twitter-api-v2 (npm `twitter-api-v2`), unchanged, against the mediakit emulator.
//
// Usage: node upload.mjs CONFIG.json   (or the JSON config on stdin)
//
// The config:
//   {
//     "routes": {"upload.x.com": "127.0.0.1:PORT", "api.x.com": "127.0.0.1:PORT"},
//     "auth": {"appKey", "appSecret", "accessToken", "accessSecret"}   OAuth 1.0a user context
//          or {"bearerToken": "..."}                                   OAuth 2.0 user token
//     "steps": [
//       {"call": "v1.uploadMedia", "file": "/path/x.jpg", "options": {...}, "full": true},
//       {"call": "v1.uploadMedia", "buffer": "/path/x.gif", "options": {"mimeType": "image/gif"}},
//       {"call": "v2.uploadMedia", "buffer": "/path/x.mp4", "options": {...}, "chunkSize": 4096},
//       {"call": "v1.createMediaMetadata", "mediaId": {"result": 0}, "metadata": {...}},
//       {"call": "v2.createMediaMetadata", "mediaId": "123", "metadata": {...}},
//       {"call": "v1.mediaInfo", "mediaId": {"result": 0}}
//     ]
//   }
// `{"result": i}` stands for the media id step i returned. `file` hands NTA the path (it opens
// and reads the file itself); `buffer` reads the file here and hands NTA a Buffer.
//
// Prints one JSON object on stdout: {"results": [...], "wire": [...]}. Each result is
// {"ok": true, "value": ...} or {"ok": false, "error": {...}} (an ApiResponseError's code, data,
// errors and message; any other Error's name and message). `wire` lists every HTTP request NTA
// made, as its agent saw it: method, Host header, path with query, headers, body (base64, the
// first WIRE_BODY_LIMIT bytes), status and timings (seconds since start).
//
// How NTA reaches the emulator: NTA builds every URL from constants (`https://upload.x.com/1.1/`,
// `https://api.x.com/2/`) and some behaviour depends on the host name (v1.1 media/upload.json is
// sent as multipart only when the host is upload.x.com), so the URLs are left alone. Its
// documented `httpAgent` setting (the one meant for proxies) gets an `https.Agent` whose
// `createConnection` opens the TCP+TLS connection to the emulator's address instead: the
// request line, the Host header, TLS SNI and the OAuth 1.0a signature all still say X's host.
// Hosts without a route are refused, so nothing can reach the real X. The emulator's
// certificate must cover X's host names and its CA be trusted (NODE_EXTRA_CA_CERTS).

import { readFileSync } from 'node:fs';
import https from 'node:https';
import { performance } from 'node:perf_hooks';

import { ApiResponseError, TwitterApi } from 'twitter-api-v2';

const WIRE_BODY_LIMIT = 256 * 1024;

class EmulatorAgent extends https.Agent {
  /** routes: {"upload.x.com": "127.0.0.1:8765", ...} */
  constructor(routes, options = {}) {
    super({ keepAlive: true, ...options });
    this.routes = new Map(
      Object.entries(routes).map(([host, target]) => {
        const at = target.lastIndexOf(':');
        return [host.toLowerCase(), { host: target.slice(0, at), port: Number(target.slice(at + 1)) }];
      }),
    );
  }

  createConnection(options, callback) {
    const target = this.routes.get(String(options.host).toLowerCase());
    if (!target) {
      throw new Error(`no route to ${options.host}: refusing to leave the test machine`);
    }
    // `servername` (SNI, and the name the certificate is checked against) stays X's host name.
    const servername = options.servername || options.host;
    return super.createConnection({ ...options, ...target, servername }, callback);
  }

  /** Node's http client hands every request to its agent as it is created. */
  addRequest(request, options) {
    record(request);
    return super.addRequest(request, options);
  }
}

// ---------------------------------------------------------------------------------------------
// The wire: every request NTA hands the agent, recorded as it is written (changes nothing)

const wire = [];
const started = performance.now();
const now = () => (performance.now() - started) / 1000;

function record(request) {
  const entry = {
    method: request.method,
    host: request.getHeader('host'),
    path: request.path,
    headers: Object.fromEntries(
      Object.entries(request.getHeaders()).map(([name, value]) => [name, String(value)]),
    ),
    body: [],
    body_bytes: 0,
    started: now(),
    finished: null,
    status: null,
  };
  wire.push(entry);
  const keep = (chunk, encoding) => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const buffer = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8');
    entry.body_bytes += buffer.length;
    if (entry.body_bytes - buffer.length < WIRE_BODY_LIMIT) entry.body.push(buffer);
  };
  const { write, end } = request;
  request.write = function (chunk, encoding, ...rest) {
    keep(chunk, encoding);
    return write.call(this, chunk, encoding, ...rest);
  };
  request.end = function (chunk, encoding, ...rest) {
    keep(chunk, encoding);
    return end.call(this, chunk, encoding, ...rest);
  };
  request.once('response', (response) => {
    entry.status = response.statusCode;
    response.once('end', () => {
      entry.finished = now();
    });
  });
}

function wireForOutput() {
  return wire.map(({ body, ...entry }) => {
    const all = Buffer.concat(body);
    return {
      ...entry,
      body_b64: all.subarray(0, WIRE_BODY_LIMIT).toString('base64'),
      body_truncated: entry.body_bytes > WIRE_BODY_LIMIT,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Steps, each an ordinary NTA call

function describeError(error) {
  if (error instanceof ApiResponseError) {
    return {
      type: 'ApiResponseError',
      message: error.message,
      code: error.code,
      data: error.data ?? null,
      errors: error.errors ?? null,
      rateLimit: error.rateLimit ?? null,
      isAuthError: error.isAuthError,
      rateLimitError: error.rateLimitError,
    };
  }
  return {
    type: error?.constructor?.name ?? typeof error,
    message: String(error?.message ?? error),
    code: error?.code ?? null,
    data: error?.data ?? null,
  };
}

function mediaIdOf(value) {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') return value.media_id_string ?? value.id;
  return undefined;
}

async function run(client, step, results) {
  const resolveId = (ref) => {
    if (ref && typeof ref === 'object' && 'result' in ref) {
      const earlier = results[ref.result];
      if (!earlier?.ok) throw new Error(`step ${ref.result} has no media id`);
      return mediaIdOf(earlier.value);
    }
    return ref;
  };
  const media = () => (step.buffer !== undefined ? readFileSync(step.buffer) : step.file);
  switch (step.call) {
    case 'v1.uploadMedia':
      return client.v1.uploadMedia(media(), step.options ?? {}, Boolean(step.full));
    case 'v2.uploadMedia':
      return step.chunkSize === undefined
        ? client.v2.uploadMedia(media(), step.options)
        : client.v2.uploadMedia(media(), step.options, step.chunkSize);
    case 'v1.createMediaMetadata':
      return client.v1.createMediaMetadata(resolveId(step.mediaId), step.metadata);
    case 'v2.createMediaMetadata':
      return client.v2.createMediaMetadata(resolveId(step.mediaId), step.metadata);
    case 'v1.mediaInfo':
      return client.v1.mediaInfo(resolveId(step.mediaId));
    default:
      throw new Error(`unknown call ${step.call}`);
  }
}

async function main() {
  const source = process.argv[2] ? readFileSync(process.argv[2], 'utf8') : readFileSync(0, 'utf8');
  const config = JSON.parse(source);
  const agent = new EmulatorAgent(config.routes);
  const auth = config.auth;
  const token = auth.bearerToken ?? {
    appKey: auth.appKey,
    appSecret: auth.appSecret,
    accessToken: auth.accessToken,
    accessSecret: auth.accessSecret,
  };
  const client = new TwitterApi(token, { httpAgent: agent });
  const results = [];
  try {
    for (const step of config.steps) {
      try {
        const value = await run(client, step, results);
        results.push({ ok: true, value: value === undefined ? null : value });
      } catch (error) {
        results.push({ ok: false, error: describeError(error) });
      }
    }
  } finally {
    agent.destroy();
  }
  process.stdout.write(JSON.stringify({ results, wire: wireForOutput() }) + '\n');
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
