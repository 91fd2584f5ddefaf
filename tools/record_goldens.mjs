#!/usr/bin/env node
// Records golden outputs of Segment's published implementation (@segment/action-destinations 3.497.0), so that
// `engine plan` (single events) and the engine's batch planner (batches) can be compared against them by
// tests/destinations/test_golden.py. Nothing of Segment's code lives in this repository: the package is
// installed outside it and located through SEGREF.
//
// This file is the driver; what is recorded for a destination lives in its own module tools/goldens/<slug>.mjs
// (settings, events, batches, the replies of the mocked HTTP server, extra meta recordings). The interface and
// the golden file formats are written down in tools/goldens/README.md.
//
// How to run (outside the repo):
//   mkdir -p /tmp/segref && cd /tmp/segref && npm init -y >/dev/null
//   npm pack @segment/action-destinations@3.497.0 && mkdir -p ad && tar xzf segment-action-destinations-3.497.0.tgz -C ad
//   npm install @segment/actions-core@3.170.0 @segment/destination-subscriptions nock@13 liquidjs@10 fast-uri@3.1.0 --ignore-scripts
//   (fast-uri is pinned: releases from 3.1.1 on reject ajv schema keys such as "UserMotion (Actions):Identify"
//    as malformed URIs, so every action would fail with "URI scheme is malformed.")
//   (the full `npm install @segment/action-destinations@3.497.0` fails: one of its AWS dependencies
//    pins a version that is not on the registry; install what a destination requires one by one with
//    `npm install X --ignore-scripts` in /tmp/segref)
//   cd <checkout> && SEGREF=/tmp/segref node tools/record_goldens.mjs [slug ...]
// Without slugs every module of tools/goldens/ (but events.mjs) is recorded.
//
// Output per destination (tests/destinations/golden/):
//   <slug>.jsonl        one line per event: {event, settings? (overrides of a variant), results: [{preset,
//                       action, status, error, requests}], nondeterministic?: [paths]}
//   <slug>.batch.jsonl  one line per batch (only when the module has batches): {name, preset, action, events,
//                       mapping?, settings?, status, error, requests, items: [{status, errortype?, errormessage?}]}
//   <slug>.meta.json    {settings, subscriptions? (the module's own), test_authentication, on_delete?, ...the
//                       module's own meta}
// Each request is {method, url, headers (lower-case names; the HTTP client's own user-agent, accept,
// accept-encoding, connection, content-length and host are left out), body (parsed JSON, text, or null),
// reply: {status, body}} (the answer the mock gave it). Status "invalid" = Segment's payload validation rejected
// it (AggregateAjvError / PayloadValidationError); "error" = anything else thrown.
// Recorded with TZ=UTC (Segment's servers run in UTC).

process.env.TZ = 'UTC'

import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const segref = process.env.SEGREF || '/tmp/segref'
const require = createRequire(path.join(segref, 'package.json'))
const nockModule = require('nock')
const nock = nockModule.default || nockModule
const { Destination, defaultValues } = require('@segment/actions-core')
const { parseFql, validate } = require('@segment/destination-subscriptions')

const pkgRoot = fs.existsSync(path.join(segref, 'ad/package/dist/destinations'))
  ? path.join(segref, 'ad/package')
  : path.join(segref, 'node_modules/@segment/action-destinations')
const destRoot = path.join(pkgRoot, 'dist/destinations')

const here = path.dirname(fileURLToPath(import.meta.url))
const modulesDir = path.join(here, 'goldens')
const outDir = path.join(here, '..', 'tests', 'destinations', 'golden')

// ---------------------------------------------------------------- the mocked HTTP server
const DROP_HEADERS = new Set(['user-agent', 'accept', 'accept-encoding', 'connection', 'content-length', 'host'])
const DEFAULT_REPLY = { status: 200, body: { ok: true } }
let captured = []
let replyFn = null // the current module's reply(method, url, body, headers, index) -> {status, body, headers?}
let moduleAuth // the current module's `auth` (an OAuth2 destination's {accessToken}), given to every action run

function installNock() {
  nock.cleanAll()
  nock.disableNetConnect()
  const scope = nock(/.*/).persist()
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
    scope.intercept(() => true, method).reply(function (uri, body) {
      const headers = {}
      for (const [k, v] of Object.entries(this.req.headers)) {
        if (!DROP_HEADERS.has(k.toLowerCase())) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
      }
      let parsed = body === '' || body === undefined ? null : body
      if (typeof parsed === 'string') {
        try { parsed = JSON.parse(parsed) } catch { /* keep text */ }
      }
      const port = this.req.options.port
      const origin = `${this.req.options.protocol}//${this.req.options.hostname}${port && !['80', '443', 80, 443].includes(port) ? ':' + port : ''}`
      const request = { method: this.req.method, url: origin + uri, headers, body: parsed }
      const answer = (replyFn && replyFn(request.method, request.url, parsed, headers, captured.length)) || DEFAULT_REPLY
      const reply = { status: answer.status ?? 200, body: answer.body === undefined ? null : answer.body }
      captured.push({ ...request, reply })
      const replyBody = typeof reply.body === 'string' || reply.body === null ? (reply.body ?? '') : reply.body
      return [reply.status, replyBody, answer.headers || {}]
    })
  }
}

// ---------------------------------------------------------------- running Segment's code
function classify(err) {
  const name = err && (err.name || err.constructor?.name)
  if (name === 'AggregateAjvError' || name === 'ValidationError' || name === 'PayloadValidationError' ||
      err?.code === 'PAYLOAD_VALIDATION_FAILED') return 'invalid'
  return 'error'
}

const quietLogger = { info() {}, error() {}, warn() {}, debug() {} }

function bundle(extra) {
  return { auth: moduleAuth, features: {}, statsContext: {}, logger: quietLogger, transactionContext: {},
    stateContext: {}, subscriptionMetadata: {}, ...extra }
}

const copy = (v) => (v === undefined ? v : JSON.parse(JSON.stringify(v)))

// executeAction of one action: {status, error, requests}
async function runAction(dest, action, { event, mapping, settings }) {
  captured = []
  dest.responses = []
  const out = { status: 'ok', error: null, requests: [] }
  try {
    await dest.executeAction(action, bundle({ event: copy(event), mapping: copy(mapping), settings: { ...settings } }))
  } catch (err) {
    out.status = classify(err)
    out.error = String(err && err.message ? err.message : err)
  }
  out.requests = captured
  return out
}

function automaticPresets(def) {
  return (def.presets || []).filter((p) => !p.type || p.type === 'automatic')
}

function matches(preset, event) {
  const fql = parseFql(preset.subscribe)
  return !fql.error && validate(fql, event)
}

// The subscriptions recorded: the package's automatic presets, or the module's own `subscriptions` (destinations
// without presets, such as Webhook: {name, subscribe, action, mapping: object | (settings) => object, engine_mapping?})
function subscriptionsOf(mod, def) {
  if (!mod.subscriptions) {
    return automaticPresets(def).map((p) => ({ name: p.name, subscribe: p.subscribe, action: p.partnerAction,
      mapping: () => p.mapping }))
  }
  return mod.subscriptions.map((s) => ({ ...s,
    mapping: typeof s.mapping === 'function' ? (settings) => s.mapping(settings, { def, defaultValues }) : () => s.mapping }))
}

async function recordLine(mod, dest, subs, event, settings, overrides) {
  const results = []
  for (const sub of subs) {
    if (!matches(sub, event)) continue
    const r = await runAction(dest, sub.action, { event, mapping: sub.mapping(settings), settings })
    results.push({ preset: sub.name, action: sub.action, ...r })
  }
  const line = overrides ? { event, settings: overrides, results } : { event, results }
  const nd = mod.nondeterministic ? mod.nondeterministic(event, results) : undefined
  if (nd && nd.length) line.nondeterministic = nd
  return JSON.stringify(line)
}

async function recordSingles(slug, mod, dest, def, settings) {
  const subs = subscriptionsOf(mod, def)
  const lines = []
  for (const event of mod.events) lines.push(await recordLine(mod, dest, subs, event, settings))
  // variants: the same subscriptions under other settings (the line carries the overrides)
  for (const v of mod.variants || []) {
    for (const event of v.events) lines.push(await recordLine(mod, dest, subs, event, { ...settings, ...v.settings }, v.settings))
  }
  fs.writeFileSync(path.join(outDir, `${slug}.jsonl`), lines.join('\n') + '\n')
  return lines.length
}

function itemResult(r) {
  if (!r) return { status: null }
  const out = { status: r.status }
  if (r.errortype) out.errortype = r.errortype
  if (r.errormessage) out.errormessage = String(r.errormessage)
  return out
}

async function recordBatches(slug, mod, dest, def, settings) {
  const file = path.join(outDir, `${slug}.batch.jsonl`)
  const batches = typeof mod.batches === 'function' ? mod.batches(def) : (mod.batches || [])
  if (!batches.length) {
    if (fs.existsSync(file)) fs.unlinkSync(file)
    return 0
  }
  const lines = []
  const names = new Set()
  for (const b of batches) {
    if (!b.name || names.has(b.name)) throw new Error(`${slug}: every batch needs a unique name (${b.name})`)
    names.add(b.name)
    const preset = subscriptionsOf(mod, def).find((p) => p.name === b.preset)
    if (!preset) throw new Error(`${slug}: batch ${b.name}: no subscription named ${b.preset}`)
    const action = dest.actions[preset.action]
    if (!action?.definition.performBatch) throw new Error(`${slug}: batch ${b.name}: ${preset.action} has no performBatch`)
    for (const [i, e] of b.events.entries()) {
      if (!matches(preset, e)) throw new Error(`${slug}: batch ${b.name}: event ${i} does not match ${preset.subscribe}`)
    }
    const batchSettings = { ...settings, ...(b.settings || {}) }
    const mapping = { ...preset.mapping(batchSettings), ...(b.mapping || {}) }
    captured = []
    dest.responses = []
    const line = { name: b.name, preset: preset.name, action: preset.action, events: b.events }
    if (b.mapping) line.mapping = b.mapping
    if (b.settings) line.settings = b.settings
    line.status = 'ok'
    line.error = null
    let items = []
    try {
      items = await dest.executeBatch(preset.action,
        bundle({ events: copy(b.events), mapping: copy(mapping), settings: batchSettings }))
    } catch (err) {
      line.status = classify(err)
      line.error = String(err && err.message ? err.message : err)
    }
    line.requests = captured
    line.items = Array.from({ length: b.events.length }, (_, i) => itemResult(items?.[i]))
    lines.push(JSON.stringify(line))
  }
  fs.writeFileSync(file, lines.join('\n') + '\n')
  return lines.length
}

// Segment reads the OAuth2 data of testAuthentication and onDelete from the settings' `oauth` object.
function withOauth(settings) {
  return moduleAuth ? { ...settings, oauth: { access_token: moduleAuth.accessToken } } : { ...settings }
}

async function recordMeta(slug, mod, dest, def, settings) {
  const meta = { settings }
  if (mod.auth) meta.auth = mod.auth
  if (mod.subscriptions) {
    // what the engine's test subscribes with: the action's field defaults overridden by engine_mapping (or mapping)
    meta.subscriptions = mod.subscriptions.map((s) => ({ name: s.name, subscribe: s.subscribe, action: s.action,
      mapping: s.engine_mapping ?? (typeof s.mapping === 'function' ? s.mapping(settings, { def, defaultValues }) : s.mapping) }))
  }
  captured = []
  try {
    await dest.testAuthentication(withOauth(settings))
    meta.test_authentication = { status: 'ok', requests: captured }
  } catch (err) {
    meta.test_authentication = { status: 'error', error: String(err.message || err), requests: captured }
  }
  if (def.onDelete) {
    captured = []
    try {
      await dest.onDelete({ type: 'delete', userId: 'user-1' }, withOauth(settings))
      meta.on_delete = { userId: 'user-1', status: 'ok', requests: captured }
    } catch (err) {
      meta.on_delete = { userId: 'user-1', status: 'error', error: String(err.message || err), requests: captured }
    }
  }
  if (mod.meta) {
    const run = (action, input) => runAction(dest, action, { settings, ...input })
    Object.assign(meta, await mod.meta({ def, dest, settings, run }))
  }
  fs.writeFileSync(path.join(outDir, `${slug}.meta.json`), JSON.stringify(meta, null, 2) + '\n')
}

async function loadModule(slug) {
  const file = path.join(modulesDir, `${slug}.mjs`)
  if (!fs.existsSync(file)) throw new Error(`no recording module tools/goldens/${slug}.mjs`)
  const mod = (await import(pathToFileURL(file).href)).default
  if (!mod || typeof mod !== 'object' || !mod.settings) throw new Error(`tools/goldens/${slug}.mjs: export default {settings, ...}`)
  if (!mod.events) mod.events = (await import(pathToFileURL(path.join(modulesDir, 'events.mjs')).href)).EVENTS
  return mod
}

async function record(slug) {
  const mod = await loadModule(slug)
  const def = require(path.join(destRoot, mod.segment || slug)).default
  const dest = new Destination(def)
  const settings = mod.settings
  replyFn = mod.reply || null
  moduleAuth = mod.auth
  const singles = await recordSingles(slug, mod, dest, def, settings)
  const batches = await recordBatches(slug, mod, dest, def, settings)
  await recordMeta(slug, mod, dest, def, settings)
  replyFn = null
  moduleAuth = undefined
  console.log(`${slug}: ${singles} events, ${batches} batches -> tests/destinations/golden/${slug}.*`)
}

fs.mkdirSync(outDir, { recursive: true })
installNock()
const asked = process.argv.slice(2)
const slugs = asked.length ? asked
  : fs.readdirSync(modulesDir).filter((f) => f.endsWith('.mjs') && f !== 'events.mjs').map((f) => f.slice(0, -4)).sort()
for (const slug of slugs) await record(slug)
