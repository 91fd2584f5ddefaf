#!/usr/bin/env node
// Records what JavaScript itself (node's V8 and ICU, no packages) gives for the JS helpers of the template
// language (engine/templates/jshelpers.py, engine/templates/regex.py), so the tests can check them without node:
//   date   new Date(x).getTime() for strings and other values (null when the date is invalid)
//   string String(x);  truthy !!x
//   zone   Intl.DateTimeFormat('en-US', {timeZone, timeZoneName: 'short'})'s zone name at two moments, for
//          every zone node knows, and whether the lower-case name is accepted too
//   regex  String.prototype.replace / split / match and RegExp.prototype.test for patterns RE2 also accepts
// Every input is made here (nothing is read); the output is tests/templates/vectors_js.jsonl, one
// `{kind, input..., output}` a line. Run from the checkout:  node tools/record_js_vectors.mjs
// (TZ is set to UTC below: the engine has no local time zone, times without an offset are UTC.)

process.env.TZ = 'UTC'

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const out = []
const UNDEF = { $undefined: true }
const wrap = (v) => (v === undefined ? UNDEF : v)

// -- dates ----------------------------------------------------------------------------------------
const pad = (n, w = 2) => String(n).padStart(w, '0')
const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September',
  'October', 'November', 'December']
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const dates = [
  [2024, 1, 15], [2024, 2, 29], [2023, 2, 29], [2024, 2, 30], [2024, 4, 31], [2024, 12, 31], [1999, 12, 31],
  [2000, 1, 1], [1969, 7, 20], [1970, 1, 1], [2038, 1, 19], [1900, 3, 1], [2024, 6, 31], [2023, 11, 5],
]
const times = [[0, 0, 0], [10, 5, 9], [23, 59, 59], [12, 0, 0], [24, 0, 0], [1, 2, 3]]
const strings = []
for (const [y, m, d] of dates) {
  const ymd = `${y}-${pad(m)}-${pad(d)}`
  strings.push(ymd, `${ymd}T00:00`, `${y}-${pad(m)}`, `${y}/${pad(m)}/${pad(d)}`, `${m}/${d}/${y}`,
    `${m}/${d}/${String(y).slice(2)}`, `${MON[m - 1]} ${d} ${y}`, `${d} ${MON[m - 1]} ${y}`,
    `${MONTHS[m - 1]} ${d}, ${y}`, `${d}-${MON[m - 1]}-${y}`, `${y} ${MON[m - 1]} ${d}`)
  for (const [h, mi, s] of times) {
    const hms = `${pad(h)}:${pad(mi)}:${pad(s)}`
    strings.push(`${ymd}T${hms}Z`, `${ymd}T${hms}.123Z`, `${ymd}T${hms}+05:30`, `${ymd}T${hms}-0800`,
      `${ymd} ${hms}`, `${ymd}T${hms}`, `${ymd} ${hms} GMT+0200`,
      `${DAYS[(d + m) % 7]}, ${pad(d)} ${MON[m - 1]} ${y} ${hms} +0000`,
      `${DAYS[(d + m) % 7]}, ${pad(d)} ${MON[m - 1]} ${y} ${hms} GMT`,
      `${MON[m - 1]} ${d} ${y} ${hms} EST`, `${m}/${d}/${y} ${h % 12 || 12}:${pad(mi)} ${h < 12 ? 'AM' : 'PM'}`)
  }
}
for (const t of [0, 1705312800123, -1, 951782400000, 253402300799999, -62135596800000, 1e12]) {
  const d = new Date(t)
  strings.push(d.toString(), d.toUTCString(), d.toISOString(), d.toDateString(), d.toGMTString())
}
strings.push(
  '', ' ', 'abc', 'now', 'today', '2024', '0', '1', '12', '99', '100', '2024-1-5', '2024-13-01', '2024-00-10',
  '2024-01-00', '2024-01-32', '2024-02-30T10:00:00Z', '20240115', '1705309200000', '2024-01-15T25:00',
  '2024-01-15T24:00:01', '2024-01-15T10:60', '2024-01-15T10:00:60', '2024-01-15T10:00:00+2400',
  '2024-01-15T10:00:00+01', '2024-01-15T10:00:00.1Z', '2024-01-15T10:00:00.12Z', '2024-01-15T10:00:00.123456789Z',
  '2024-01-15T10Z', '2024-01-15T1:00Z', '+002024-01-15', '-002024-01-15', '-000000-01-01T00:00:00Z',
  '+275760-09-13T00:00:00Z', '+275760-09-13T00:00:00.001Z', '-271821-04-20T00:00:00Z', '2024-01-15t10:00:00z',
  '2024-01-15 10:00:00Z', '2024-01-15 10:00:00 z', '2024-01-15T10:00:00 Z', ' 2024-01-15', '2024-01-15 ',
  'Jan 15', 'January', '15 Jan', 'Jan 2024', '1/15', '1/15/24', '1/15/50', '1/15/49', '13/1/2024', '15.01.2024',
  'Jan 15 2024 10:00 pm', 'Jan 15 2024 12:00 am', 'Jan 15 2024 12:00 pm', 'Jan 15 2024 13:00 pm', 'Jan 15 2024 pm',
  'Jan 15 2024 10:00:00 PST', 'Jan 15 2024 10:00:00 PDT', 'Jan 15 2024 10:00:00 CST', 'Jan 15 2024 10:00:00 MDT',
  'Jan 15 2024 10:00:00 UT', 'Jan 15 2024 10:00:00 UTC+3', 'Jan 15 2024 10:00:00 GMT-5', 'Jan 15 2024 10:00:00 GMT+5:30',
  'Jan 15 2024 10:00:00 GMT+123', 'Jan 15 2024 10:00:00 GMT+12345', 'Jan 15 2024 10:00:00 +01:00',
  'Jan 15 2024 10:00:00 (comment) GMT', 'Jan 15 2024 (nested (parens)) 10:00', 'Jan 15 2024 10:00:00 XYZ',
  'Monday, January 15, 2024', 'Tue Jan 15 2024', 'Tuesday 2024', 'x2024', 'x 2024', 'Jan15 2024', 'Jan-15-2024',
  '15-Jan-2024 10:00', '2024 Jan 15 10:00:00', 'Sept 5 2024', 'Mayday 5 2024', 'Ma 5 2024', 'Janvier 5 2024',
  '10:00 Jan 15 2024', '10:00:00', '10::', '2024-01-15T10:00:00.', 'Jan 15 2024 10:00:00.5', 'Jan 15 2024 10.30',
  'Jan 15 2024 10:00:00.123456', '1 2 3 4', '2024-01-15T10:00:00+05:30 extra', 'Jan 15 2024 10:00:00 +0100)',
  'Jan 15 2024 10:00 -', 'Jan 15 2024 - 10:00', '2024-01-15T10:00:00.000+0530', '2024-01-15T10:00:00+05:30:00',
  '2024-06-15T12:00:00.000Z', 'Sat, 31 Dec 1999 23:59:59 GMT', '31 Dec 99', '1 Jan 00', 'Dec 31 49', 'Dec 31 50',
  '0001-01-01', '9999-12-31T23:59:59.999Z', '1970-01-01T00:00:00.000-00:00', '2024-01-15T12:00:00.000+00:00',
  '２０２４-01-15', '2024-01-15\u00a010:00', '2024-01-15\t10:00', '2024-01-15\n10:00', 'Jan 15, 2024, 10:00:00 AM',
  '1/15/2024, 10:00:00 AM', '2024-01-15T10:00:00.000Z[UTC]', 'T10:00', '2024-W03-1', '2024-015',
)
for (const s of strings) {
  const ms = new Date(s).getTime()
  out.push({ kind: 'date', input: s, output: Number.isNaN(ms) ? null : ms })
}
for (const v of [null, true, false, 0, -1, 1705312800123, 8.64e15, 8.64e15 + 1, -8.64e15, 1.5, -1.5, [2024, 1, 15],
  ['2024-01-15'], [], {}, UNDEF]) {
  const value = v === UNDEF ? undefined : v
  const ms = new Date(value).getTime()
  out.push({ kind: 'date_value', input: wrap(v === UNDEF ? undefined : v), output: Number.isNaN(ms) ? null : ms })
}

// -- String() and truthiness -----------------------------------------------------------------------
for (const v of [UNDEF, null, true, false, 0, -0, 1, 1.5, 10.0, 1e21, 1e-7, 123456789012345680000, 0.1, -2.5e-8, '',
  'text', '0', [], [1, 2], [null, 1], [[1, 2], [3]], [{}], {}, { a: 1 }, [true, 'x', null, 0.5]]) {
  const value = v === UNDEF ? undefined : v
  out.push({ kind: 'string', input: wrap(value), output: String(value) })
  out.push({ kind: 'truthy', input: wrap(value), output: !!value })
}

// -- zones -----------------------------------------------------------------------------------------
const moments = [Date.UTC(2024, 0, 15, 12), Date.UTC(2024, 6, 15, 12)]
for (const zone of [...Intl.supportedValuesOf('timeZone'), 'UTC', 'Etc/UTC', 'Etc/GMT+5', 'US/Eastern', 'EST5EDT']) {
  for (const ms of moments) {
    const parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'short' }).formatToParts(new Date(ms))
    let lower = true
    try { new Intl.DateTimeFormat('en-US', { timeZone: zone.toLowerCase() }) } catch { lower = false }
    out.push({ kind: 'zone', input: zone, at: new Date(ms).toISOString(), output: parts.find((p) => p.type === 'timeZoneName').value, lower_ok: lower })
  }
}

// -- regular expressions (patterns that mean the same in JavaScript and RE2) ------------------------
const regexCases = [
  ['bob@example.com, al@test.org', '(\\w+)@(\\w+)\\.(\\w+)', '$2:$1 [$&] $$ $3 $4 $0 $<x>'],
  ['2024-01-15', '^(\\d{4})-(\\d{2})-(\\d{2})$', '$3/$2/$1'],
  ['a1b22c333', '\\d+', '#'],
  ['a1b22c333', '\\d*', '-'],
  ['  padded  text  ', '\\s+', ' '],
  ['CamelCaseString', '([a-z])([A-Z])', '$1_$2'],
  ['x', 'y', 'z'],
  ['', 'a*', 'X'],
  ['aaa', 'a', '$$$&$'],
  ['one,two;three , four', '\\s*[,;]\\s*', '|'],
  ['user+tag@mail.com', '\\+[^@]*', ''],
  ['Ünïcödé text', '[^\\x00-\\x7f]', '?'],
  ['(555) 123-4567', '[^0-9]', ''],
  ['abc', '', '-'],
  ['a,b,,c,', ',', ';'],
  ['key=value&k2=v2', '(\\w+)=(\\w+)', '$2=$1'],
  ['named', '(?<first>n)(?<rest>\\w+)', '$<rest>$<first>'],
  ['a1b2', '(\\d)', '<$10>'],
  ['hello world', '(o)(?:\\s)?', '[$1]'],
  ['tabs\tand\nnewlines', '[\\t\\n]', ' '],
]
for (const [text, pattern, replacement] of regexCases) {
  const match = text.match(new RegExp(pattern))
  out.push({
    kind: 'regex', text, pattern, replacement,
    replace: text.replace(new RegExp(pattern, 'g'), replacement),
    replace_first: text.replace(new RegExp(pattern), replacement),
    split: text.split(new RegExp(pattern)),
    split_2: text.split(new RegExp(pattern), 2),
    match: match === null ? null : [...match].map((g) => (g === undefined ? null : g)),
    findall: text.match(new RegExp(pattern, 'g')) || [],
    test: new RegExp(pattern).test(text),
    full: new RegExp(`^(?:${pattern})$`).test(text),
  })
}

const file = path.join(root, 'tests', 'templates', 'vectors_js.jsonl')
fs.writeFileSync(file, out.map((o) => JSON.stringify(o)).join('\n') + '\n')
console.log(`${out.length} vectors -> ${path.relative(root, file)} (node ${process.version}, ICU ${process.versions.icu}, tz ${process.versions.tz})`)
