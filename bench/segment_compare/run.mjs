#!/usr/bin/env node
// Segment's runtime on the bench events: @segment/actions-core 3.170.0 running the published UserMotion,
// Usermaven and Userpilot definitions (@segment/action-destinations 3.497.0) through their presets:
// subscription matching (parsed FQL), mapping, payload validation, request building; the network is
// stubbed at actions-core's fetch (every request answers 200 {}).
//
//   node bench/segment_compare/run.mjs EVENTS.jsonl [slug ...]     (SEGREF: where the packages are)
//
// Prints one JSON line per destination: {slug, events, actions, errors, seconds, events_per_s, p50_us, p99_us}.
// Timed per event: the preset loop (FQL match + executeAction for each matching preset); JSON.parse of the
// line is outside the timer, as in bench/plan.py.
process.env.TZ = 'UTC'

import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const segref = process.env.SEGREF || (fs.existsSync(path.join(here, 'node_modules/@segment/actions-core')) ? here : '/tmp/segref')
const require = createRequire(path.join(segref, 'package.json'))
const core = require('@segment/actions-core')
const { parseFql, validate } = require('@segment/destination-subscriptions')
// not an exported subpath: load it by file path (the same module instance request-client.js uses)
const coreMain = require.resolve('@segment/actions-core')
const fetchModule = require(path.join(coreMain.slice(0, coreMain.lastIndexOf('/dist/cjs/') + 10), 'fetch.js'))

const pkgRoot = fs.existsSync(path.join(segref, 'ad/package/dist/destinations'))
  ? path.join(segref, 'ad/package')
  : path.join(segref, 'node_modules/@segment/action-destinations')
const destRoot = path.join(pkgRoot, 'dist/destinations')

// the network, stubbed: actions-core calls fetchModule.default(request) at request time
let sent = 0
fetchModule.default = async (request) => {
  sent++
  return new fetchModule.Response('{}', { status: 200, headers: { 'content-type': 'application/json' } })
}

const SETTINGS = {
  usermotion: { apiKey: 'test-key-123' },
  usermaven: { api_key: 'test-key-123', server_token: 'test-token-456' },
  userpilot: { apiKey: 'test-key-123', endpoint: 'https://analytex.userpilot.io/' }
}
const logger = { info() {}, error() {}, warn() {}, debug() {} }

const file = process.argv[2]
const slugs = process.argv.length > 3 ? process.argv.slice(3) : Object.keys(SETTINGS)
const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0)

for (const slug of slugs) {
  const def = require(path.join(destRoot, slug)).default
  const dest = new core.Destination(def)
  const settings = SETTINGS[slug]
  const presets = def.presets
    .filter((p) => !p.type || p.type === 'automatic')
    .map((p) => ({ ...p, fql: parseFql(p.subscribe) }))
  const lat = new Float64Array(lines.length)
  let busy = 0n
  let actions = 0
  let errors = 0
  sent = 0
  for (let i = 0; i < lines.length; i++) {
    const event = JSON.parse(lines[i])
    const t0 = process.hrtime.bigint()
    for (const preset of presets) {
      if (preset.fql.error || !validate(preset.fql, event)) continue
      actions++
      try {
        await dest.executeAction(preset.partnerAction, {
          event, mapping: preset.mapping, settings, auth: undefined, features: {}, statsContext: {}, logger,
          transactionContext: {}, stateContext: {}, subscriptionMetadata: {}
        })
      } catch (err) {
        errors++
      }
    }
    const dt = process.hrtime.bigint() - t0
    busy += dt
    lat[i] = Number(dt) / 1000
  }
  lat.sort()
  const seconds = Number(busy) / 1e9
  console.log(JSON.stringify({
    slug, events: lines.length, actions, requests: sent, errors, seconds,
    events_per_s: lines.length / seconds, p50_us: lat[Math.floor(lines.length * 0.5)], p99_us: lat[Math.floor(lines.length * 0.99)]
  }))
}
