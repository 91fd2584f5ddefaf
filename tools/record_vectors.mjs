#!/usr/bin/env node
// Records the expected outputs of Segment's published packages for the three languages the engine
// reproduces: mapping-kit (@segment/actions-core 3.170.0), action payload validation (same package) and
// FQL subscriptions (@segment/destination-subscriptions 3.37.0). The tests read the recorded files
// (tests/mapping/vectors_mapping.jsonl, tests/payload/vectors_validation.jsonl,
// tests/trigger/vectors_fql.jsonl); nothing of Segment's code lives in this repository: the packages are
// installed outside it and located through SEGVEC (or the second argument).
//
// How to run (outside the repo):
//   mkdir -p /tmp/segvec && cd /tmp/segvec && npm init -y >/dev/null
//   npm install @segment/actions-core@3.170.0 @segment/destination-subscriptions@3.37.0 liquidjs@10.30.1 --ignore-scripts
//   (liquidjs is what actions-core's @liquid directive loads; 10.30.1 is the version the vectors were made with)
//   cd <checkout> && SEGVEC=/tmp/segvec node tools/record_vectors.mjs INPUTS.jsonl
//
// INPUTS.jsonl: one vector a line, `{id, note, input}` (any output keys already there are ignored and
// recorded afresh). The language is taken from the input's keys:
//   mapping:    {mapping, data}             -> transform(mapping, data)
//               {fields} (id map-*)         -> defaultValues(fields)
//   validation: {fields, mapping, data, mode: "single"|"batch"} -> transform, removeEmptyValues (isRoot
//               only for "single"), validateSchema(fieldsToJsonSchema(fields))
//               {fields} (id schema-*)      -> fieldsToJsonSchema(fields)
//   fql:        {fql, event}                -> parseFql(fql), then validate(ast, event)
// Each line is appended to tests/<dir>/vectors_<language>.jsonl (the file is rewritten when the first line
// of that language is recorded), as `{id, note, input, output}` or, when Segment throws,
// `{id, note, input, error_class, error, errors?}` (fql: `error_stage` "parse" or "validate", with the
// output computed so far). JS `undefined` inside outputs is written `{"$undefined": true}`; NaN is null.

process.env.TZ = 'UTC'

import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const inputsFile = process.argv[2]
if (!inputsFile) {
  console.error('usage: SEGVEC=/tmp/segvec node tools/record_vectors.mjs INPUTS.jsonl [SEGVEC]')
  process.exit(2)
}
const segvec = process.env.SEGVEC || process.argv[3] || '/tmp/segvec'
const require = createRequire(path.join(segvec, 'package.json'))
const core = require('@segment/actions-core')
const { removeEmptyValues } = require(
  path.join(segvec, 'node_modules', '@segment', 'actions-core', 'dist', 'cjs', 'remove-empty-values.js')
)  // not exported by the package; it is the step Action.execute runs before validation
const subscriptions = require('@segment/destination-subscriptions')

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const OUT = {
  mapping: path.join(root, 'tests', 'mapping', 'vectors_mapping.jsonl'),
  validation: path.join(root, 'tests', 'payload', 'vectors_validation.jsonl'),
  fql: path.join(root, 'tests', 'trigger', 'vectors_fql.jsonl'),
}

const UNDEFINED = { $undefined: true }

function encode(value) {
  // JSON text with undefined kept visible; NaN becomes null as JSON.stringify makes it
  return JSON.stringify(value, (key, v) => (v === undefined && key !== '' ? UNDEFINED : v))
}

function revive(value) {
  // a clone of a JSON input (so that Segment's in-place mutation never reaches the recorded input)
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value))
}

function languageOf(vector) {
  const input = vector.input
  if ('fql' in input) return 'fql'
  if ('mode' in input) return 'validation'
  if ('mapping' in input) return 'mapping'
  if ('fields' in input) return vector.id.startsWith('schema') ? 'validation' : 'mapping'
  throw new Error(`${vector.id}: cannot tell the language from the input keys ${Object.keys(input)}`)
}

function errorFields(error) {
  const out = { error_class: error.constructor?.name || error.name, error: error.message }
  if (error.constructor?.name === 'AggregateError') {
    out.errors = [...error].map((e) => e.message)
    out.error = out.errors.join('\n')  // its own .message is stack-trace text
  } else if (Array.isArray(error.errors)) {
    out.errors = error.errors.map((e) => ({ path: e.path, pointer: e.pointer, message: e.message }))
  }
  return out
}

function recordMapping(input) {
  if (!('mapping' in input)) return { output: core.defaultValues(revive(input.fields)) }
  try {
    return { output: core.transform(revive(input.mapping), revive(input.data)) }
  } catch (error) {
    return errorFields(error)
  }
}

function recordValidation(input) {
  const schema = core.fieldsToJsonSchema(revive(input.fields))
  if (!('mode' in input)) return { output: revive(schema) }  // a JSON schema: keys set to undefined are absent
  let payload
  try {
    payload = core.transform(revive(input.mapping), revive(input.data))
  } catch (error) {
    return errorFields(error)
  }
  const batch = input.mode === 'batch'
  payload = removeEmptyValues(payload, schema, !batch)
  try {
    core.validateSchema(payload, schema, { throwIfInvalid: true })
  } catch (error) {
    // the batch path turns an invalid item into a multistatus entry carrying only the message
    return batch ? { error_class: 'PAYLOAD_VALIDATION_FAILED', error: error.message } : errorFields(error)
  }
  return { output: payload }
}

function recordFql(input) {
  const ast = subscriptions.parseFql(input.fql)
  if (ast.error) {
    return { output: { match: subscriptions.validate(ast, revive(input.event)) }, error_stage: 'parse', error: String(ast.error) }
  }
  const output = { ast: revive(ast) }
  try {
    output.match = subscriptions.validate(ast, revive(input.event))
  } catch (error) {
    output.match = null
    return { output, error_stage: 'validate', error: String(error) }
  }
  return { output }
}

const RECORD = { mapping: recordMapping, validation: recordValidation, fql: recordFql }
const started = new Set()
const counts = {}
for (const line of fs.readFileSync(inputsFile, 'utf8').split('\n')) {
  if (!line.trim()) continue
  const vector = JSON.parse(line)
  const language = languageOf(vector)
  const recorded = RECORD[language](vector.input)
  const out = { id: vector.id, note: vector.note, input: vector.input, ...recorded }
  if (!started.has(language)) {
    fs.writeFileSync(OUT[language], '')
    started.add(language)
  }
  fs.appendFileSync(OUT[language], encode(out) + '\n')
  counts[language] = (counts[language] || 0) + 1
}
for (const [language, n] of Object.entries(counts)) {
  console.log(`${path.relative(root, OUT[language])}: ${n} vectors`)
}
