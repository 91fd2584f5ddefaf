// The shared event generator of the golden recordings (tools/record_goldens.mjs): the Segment events every
// destination module (tools/goldens/<slug>.mjs) records by default, and helpers to build batches from them.
// Changing an event here changes every destination's goldens: append new events at the end of EVENTS, or give
// a destination its own extra events (`events: [...EVENTS, ...mine]`).

export const ctx = {
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
export const base = { messageId: 'msg-1', timestamp: '2024-03-01T12:00:00.000Z', anonymousId: 'anon-1' }
export const huge = 'x'.repeat(20000)

export const EVENTS = [
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

// `n` copies of `event`, each with its own messageId and a counter in `properties.n` / `traits.n`, for batches.
export function copies(event, n, prefix = 'b') {
  const out = []
  for (let i = 0; i < n; i++) {
    const e = JSON.parse(JSON.stringify(event))
    e.messageId = `${prefix}-${i + 1}`
    if (e.type === 'identify' || e.type === 'group') e.traits = { ...(e.traits || {}), n: i + 1 }
    else e.properties = { ...(e.properties || {}), n: i + 1 }
    out.push(e)
  }
  return out
}
