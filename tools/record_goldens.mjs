#!/usr/bin/env node
// Records golden outputs of Segment's published implementation (@segment/action-destinations 3.497.0)
// for the seed destinations that exist there (usermotion, usermaven, userpilot), so that `engine plan`
// can later be compared against them. Nothing of Segment's code lives in this repository: the package is
// installed outside it and located through SEGREF (or the first argument).
//
// How to run (outside the repo):
//   mkdir -p /tmp/segref && cd /tmp/segref && npm init -y >/dev/null
//   npm pack @segment/action-destinations@3.497.0 && mkdir -p ad && tar xzf segment-action-destinations-3.497.0.tgz -C ad
//   npm install @segment/actions-core@3.170.0 @segment/destination-subscriptions nock@13 liquidjs@10 fast-uri@3.1.0 --ignore-scripts
//   (fast-uri is pinned: releases from 3.1.1 on reject ajv schema keys such as "UserMotion (Actions):Identify"
//    as malformed URIs, so every action would fail with "URI scheme is malformed.")
//   (the full `npm install @segment/action-destinations@3.497.0` fails: one of its AWS dependencies
//    pins a version that is not on the registry; the three destinations only need actions-core + lodash)
//   cd /work/main && SEGREF=/tmp/segref node tools/record_goldens.mjs
//
// Output: tests/destinations/golden/<slug>.jsonl, one line per event:
//   {event, results: [{preset, action, status: "ok"|"invalid"|"error", error, requests: [...]}],
//    nondeterministic?: [paths]}
// where each request is {method, url, headers (lower-case names; the HTTP client's own user-agent,
// accept, accept-encoding, connection, content-length and host are left out), body (parsed JSON or null)}.
// An event that no preset matches records `results: []`. Status "invalid" = Segment's payload
// validation rejected it (AggregateAjvError / PayloadValidationError); "error" = anything else thrown
// (for instance Usermaven's `new URL()` on an invalid URL, or an unknown time zone).
// Recorded with TZ=UTC (Segment's servers run in UTC; Usermaven's tz offset arithmetic depends on it).
// Nondeterministic keys (listed per line in `nondeterministic`): Usermaven's body.user.anonymous_id when the
// event has no anonymousId (a random 10-digit string), and body.local_tz_offset (the offset at recording
// time; zones with daylight saving time change it during the year).
// Also writes tests/destinations/golden/<slug>.meta.json with the auth-test and deletion requests.

process.env.TZ = 'UTC'

import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const segref = process.env.SEGREF || process.argv[2] || '/tmp/segref'
const require = createRequire(path.join(segref, 'package.json'))
const nockModule = require('nock')
const nock = nockModule.default || nockModule
const { Destination } = require('@segment/actions-core')
const { parseFql, validate } = require('@segment/destination-subscriptions')

const pkgRoot = fs.existsSync(path.join(segref, 'ad/package/dist/destinations'))
  ? path.join(segref, 'ad/package')
  : path.join(segref, 'node_modules/@segment/action-destinations')
const destRoot = path.join(pkgRoot, 'dist/destinations')

const here = path.dirname(fileURLToPath(import.meta.url))
const outDir = path.join(here, '..', 'tests', 'destinations', 'golden')

const SETTINGS = {
  usermotion: { apiKey: 'test-key-123' },
  usermaven: { api_key: 'test-key-123', server_token: 'test-token-456' },
  userpilot: { apiKey: 'test-key-123', endpoint: 'https://analytex.userpilot.io/' }
}

// ---------------------------------------------------------------- events
const ctx = {
  ip: '203.0.113.7',
  locale: 'en-US',
  userAgent:
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  page: {
    path: '/pricing',
    referrer: 'https://www.google.com/',
    search: '?plan=pro',
    title: 'Pricing',
    url: 'https://example.com/pricing?plan=pro'
  },
  screen: { width: 1920, height: 1080, density: 2 },
  campaign: { source: 'newsletter', medium: 'email', name: 'spring', term: 'crm', content: 'hero' },
  timezone: 'Europe/Berlin',
  traits: { email: 'ctx@example.com', created_at: '2023-01-02T03:04:05Z' },
  library: { name: 'analytics.js', version: '2.11.1' }
}
const base = { messageId: 'msg-1', timestamp: '2024-03-01T12:00:00.000Z', anonymousId: 'anon-1' }
const huge = 'x'.repeat(20000)

const EVENTS = [
  // identify
  { ...base, type: 'identify', userId: 'user-1', context: ctx,
    traits: { email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace', name: 'Ada Lovelace',
      created_at: '2021-05-06T07:08:09Z', createdAt: '2021-05-06T07:08:09Z', phone: '+44 20 7946 0000',
      gender: 'Female', plan: 'pro', logins: 42, timezone: 'Asia/Kolkata',
      address: { street: '1 Main St', city: 'London', state: 'England', postal_code: 'N1', country: 'UK' } } },
  { ...base, type: 'identify', traits: { email: 'anon@example.com' } },
  { messageId: 'msg-3', type: 'identify', traits: { email: 'noid@example.com' } },
  { ...base, type: 'identify', userId: 'user-2', traits: null },
  { ...base, type: 'identify', userId: 'user-3',
    traits: { email: 'aud@example.com', order_completed_last_30days: true },
    context: { personas: { computation_class: 'audience', computation_key: 'order_completed_last_30days' } } },
  { ...base, type: 'identify', userId: 'user-3',
    traits: { email: 'aud@example.com', order_completed_last_30days: false },
    context: { personas: { computation_class: 'audience', computation_key: 'order_completed_last_30days' } } },
  { ...base, type: 'identify', userId: 'user-4', email: 'top@example.com', traits: { plan: 'free' } },
  { ...base, type: 'identify', userId: 'usér/1 ü', traits: { email: 'zoë@exämple.com', first_name: 'Zoë', city: '東京', emoji: '🎉' } },
  { ...base, type: 'identify', userId: 12345, traits: { email: 'num@example.com', age: 33 } },
  { ...base, type: 'identify', userId: 'user-5', traits: 'not-an-object' },
  { ...base, type: 'identify', userId: 'user-6', traits: { email: 'd@example.com', createdAt: 'not a date' } },
  { ...base, type: 'identify', userId: 'user-7', traits: { email: 'e@example.com', createdAt: '', created_at: '2020-01-01' } },
  { ...base, type: 'identify', userId: 'user-8', traits: { email: null, first_name: null } },
  { ...base, type: 'identify', userId: 'user-9', traits: { email: 'tz@example.com', timezone: 'America/New_York' } },
  { ...base, type: 'identify', userId: 'user-10', traits: { email: 'badtz@example.com', timezone: 'Mars/Olympus' } },
  { ...base, type: 'identify', userId: '', traits: { email: 'empty@example.com' } },
  { ...base, type: 'identify', userId: 'user-11', anonymousId: null, traits: { email: 'x@example.com', createdAt: 1700000000 } },
  // track
  { ...base, type: 'track', userId: 'user-1', event: 'Order Completed', context: ctx,
    properties: { order_id: 'o-1', revenue: 99.5, email: 'buyer@example.com', created_at: '2022-02-02', currency: 'EUR',
      products: [{ sku: 'a', qty: 1 }] } },
  { ...base, type: 'track', userId: 'user-1', properties: { a: 1 } },
  { ...base, type: 'track', userId: 'user-1', event: '', properties: { a: 1 } },
  { ...base, type: 'track', userId: 'user-1', event: 'Null Props', properties: null },
  { ...base, type: 'track', userId: 'user-1', event: 'TZ Event', properties: { timezone: 'Asia/Kolkata' } },
  { ...base, type: 'track', userId: 'user-1', event: 'Bad TZ', properties: { timezone: 'Not/AZone' } },
  { ...base, type: 'track', userId: 'user-1', event: 'Bad URL', context: { page: { url: 'not a url' } } },
  { ...base, type: 'track', userId: 'user-1', event: 'Port URL', context: { page: { url: 'HTTPS://Bücher.Example:8443/a b?q=1' } } },
  { ...base, type: 'track', userId: 'user-1', event: 'Zero Screen', context: { screen: { width: 0, height: 768 } } },
  { ...base, type: 'track', event: 'Anon Only', properties: { step: 2 } },
  { messageId: 'msg-h', type: 'track', event: 'No Ids', properties: { step: 3 } },
  { ...base, type: 'track', userId: 'user-1', event: 'Huge', properties: { blob: huge } },
  { ...base, type: 'track', userId: 'user-1', event: 42, properties: { n: 1 } },
  { ...base, type: 'track', userId: null, event: 'Null User', properties: { ü: 'ñ', nested: { deep: ['✓', null] } } },
  // page / screen
  { ...base, type: 'page', userId: 'user-1', name: 'Pricing', context: ctx,
    properties: { name: 'Pricing', url: 'https://example.com/pricing', path: '/pricing', title: 'Pricing',
      email: 'page@example.com', created_at: '2020-02-02' } },
  { ...base, type: 'page', properties: { path: '/' }, context: { page: { url: 'https://example.com/', path: '/' } } },
  { ...base, type: 'page', userId: 'user-1', context: { page: { url: '//no-scheme.example.com/x' } } },
  { ...base, type: 'page', userId: 'user-1', properties: { timezone: '' }, context: { screen: { width: 375, height: 812 } } },
  { ...base, type: 'screen', userId: 'user-1', name: 'Home', properties: { a: 1 } },
  // group
  { ...base, type: 'group', userId: 'user-1', groupId: 'grp-1', context: ctx,
    traits: { name: 'Acme Inc', created_at: '2019-09-09', createdAt: '2019-09-09T00:00:00Z', employees: 250,
      email: 'hi@acme.test', phone: '+1 555 0100', description: 'Rockets',
      address: { street: '2 Elm St', city: 'Springfield', state: 'OR', country: 'US' }, industry: 'Aerospace',
      company_id: 'cid', company_created_at: 'ccat' } },
  { ...base, type: 'group', userId: 'user-1', traits: { name: 'No Group Id' } },
  { ...base, type: 'group', userId: 'user-1', groupId: 'grp-2', traits: null },
  { ...base, type: 'group', groupId: 'grp-3', traits: { name: 'Anon Co' } },
  { ...base, type: 'group', userId: 'user-1', groupId: 777, traits: { name: 'Numeric', plan: 'enterprise' } },
  // other call types
  { ...base, type: 'alias', userId: 'user-1', previousId: 'anon-1' },
  { ...base, userId: 'user-1', event: 'No Type' }
]

// ---------------------------------------------------------------- recording
const DROP_HEADERS = new Set(['user-agent', 'accept', 'accept-encoding', 'connection', 'content-length', 'host'])
let captured = []

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
      const origin = `${this.req.options.protocol}//${this.req.options.hostname}${this.req.options.port && !['80', '443', 80, 443].includes(this.req.options.port) ? ':' + this.req.options.port : ''}`
      captured.push({ method: this.req.method, url: origin + uri, headers, body: parsed })
      return [200, { ok: true }]
    })
  }
}

function classify(err) {
  const name = err && (err.name || err.constructor?.name)
  if (name === 'AggregateAjvError' || name === 'ValidationError' || name === 'PayloadValidationError' ||
      err?.code === 'PAYLOAD_VALIDATION_FAILED') return 'invalid'
  return 'error'
}

function nondeterministicPaths(slug, event, results) {
  if (slug !== 'usermaven') return undefined
  const paths = []
  results.forEach((r, i) => {
    r.requests.forEach((req, j) => {
      const b = req.body || {}
      if (b.user && !event.anonymousId) paths.push(`results[${i}].requests[${j}].body.user.anonymous_id`)
      if ('local_tz_offset' in b) paths.push(`results[${i}].requests[${j}].body.local_tz_offset`)
    })
  })
  return paths.length ? paths : undefined
}

async function recordDestination(slug) {
  const def = require(path.join(destRoot, slug)).default
  const dest = new Destination(def)
  const settings = SETTINGS[slug]
  const lines = []
  // Optional (PAYLOADS_DIR=...): also dump the validated payload each perform received, to debug a spec.
  let lastPayload
  for (const action of Object.values(dest.actions)) {
    const perform = action.definition.perform
    action.definition.perform = (request, data) => {
      lastPayload = JSON.parse(JSON.stringify(data.payload))
      return perform(request, data)
    }
  }
  const payloadLines = []
  for (const event of EVENTS) {
    const results = []
    for (const preset of def.presets) {
      if (preset.type && preset.type !== 'automatic') continue
      const fql = parseFql(preset.subscribe)
      if (fql.error || !validate(fql, event)) continue
      captured = []
      dest.responses = []
      lastPayload = undefined
      const result = { preset: preset.name, action: preset.partnerAction, status: 'ok', error: null, requests: [] }
      try {
        await dest.executeAction(preset.partnerAction, {
          event: JSON.parse(JSON.stringify(event)),
          mapping: JSON.parse(JSON.stringify(preset.mapping)),
          settings: { ...settings },
          auth: undefined,
          features: {},
          statsContext: {},
          logger: { info() {}, error() {}, warn() {}, debug() {} },
          transactionContext: {},
          stateContext: {},
          subscriptionMetadata: {}
        })
      } catch (err) {
        result.status = classify(err)
        result.error = String(err && err.message ? err.message : err)
      }
      result.requests = captured
      results.push(result)
      payloadLines.push(JSON.stringify({ event, preset: preset.name, payload: lastPayload ?? null, result }))
    }
    const line = { event, results }
    const nd = nondeterministicPaths(slug, event, results)
    if (nd) line.nondeterministic = nd
    lines.push(JSON.stringify(line))
  }
  fs.writeFileSync(path.join(outDir, `${slug}.jsonl`), lines.join('\n') + '\n')
  if (process.env.PAYLOADS_DIR) {
    fs.writeFileSync(path.join(process.env.PAYLOADS_DIR, `${slug}.payloads.jsonl`), payloadLines.join('\n') + '\n')
  }

  // auth test and deletion (when the destination has them)
  const meta = { settings }
  captured = []
  try {
    await dest.testAuthentication({ ...settings })
    meta.test_authentication = { status: 'ok', requests: captured }
  } catch (err) {
    meta.test_authentication = { status: 'error', error: String(err.message || err), requests: captured }
  }
  if (def.onDelete) {
    captured = []
    try {
      await dest.onDelete({ type: 'delete', userId: 'user-1' }, { ...settings })
      meta.on_delete = { userId: 'user-1', status: 'ok', requests: captured }
    } catch (err) {
      meta.on_delete = { userId: 'user-1', status: 'error', error: String(err.message || err), requests: captured }
    }
  }
  if (slug === 'userpilot') {
    // How the endpoint setting is used: parsed with `new URL()`, kept as given when it parses, else the default.
    meta.endpoint_variants = []
    const event = { type: 'track', userId: 'user-1', event: 'Endpoint Check', properties: {} }
    for (const endpoint of ['https://analytex-eu.userpilot.io/', 'not a url', '', 'ftp://files.example/', 'HTTPS://Upper.Example']) {
      captured = []
      const variant = { endpoint, status: 'ok', error: null }
      try {
        await dest.executeAction('trackEvent', {
          event, mapping: def.presets[2].mapping, settings: { ...settings, endpoint }, features: {}, statsContext: {},
          logger: { info() {}, error() {}, warn() {}, debug() {} }, transactionContext: {}, stateContext: {}, subscriptionMetadata: {}
        })
      } catch (err) {
        variant.status = classify(err)
        variant.error = String(err.message || err)
      }
      variant.requests = captured
      meta.endpoint_variants.push(variant)
    }
  }
  fs.writeFileSync(path.join(outDir, `${slug}.meta.json`), JSON.stringify(meta, null, 2) + '\n')
  return lines.length
}

fs.mkdirSync(outDir, { recursive: true })
installNock()
for (const slug of ['usermotion', 'usermaven', 'userpilot']) {
  const n = await recordDestination(slug)
  console.log(`${slug}: ${n} events -> tests/destinations/golden/${slug}.jsonl`)
}
