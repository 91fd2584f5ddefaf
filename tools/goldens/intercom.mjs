// Golden recording set-up of Intercom Cloud Mode (Actions) (destinations/intercom). Segment's Intercom has no
// presets, so the module subscribes each action itself (with the action's defaults, as Segment's UI prefills a
// new subscription; the engine's test subscribes with the same mapping). The mocked Intercom knows a few contacts: a search for one of them finds exactly one
// (`total_count: 1`), any other search finds none, so both the found and the not-found path are recorded.
import { EVENTS, base } from './events.mjs'

const TOKEN = 'test-token-123'

// "field=value" of a contact search -> the id of the one contact found
const KNOWN = {
  'external_id=user-1': '65f0c0ffee0000000000a001',
  'external_id=user-3': '65f0c0ffee0000000000a003',
  'external_id=usér/1 ü': '65f0c0ffee0000000000a0ff',
  'email=anon@example.com': '65f0c0ffee0000000000b001',
  'email=buyer@example.com': '65f0c0ffee0000000000b002',
  'email=anon-co@example.com': '65f0c0ffee0000000000b003'
}
// a search that finds two contacts (not unique: treated as not found)
const TWICE = new Set(['external_id=user-twice', 'email=twice@example.com'])

// Events beyond the shared ones: the email-only look-ups, revenue, the time formats and the custom attributes.
const extra = [
  { ...base, type: 'identify', userId: 'user-lead', traits: { role: 'lead', email: 'lead@example.com', name: 'Lea' } },
  { ...base, type: 'identify', userId: 'user-bad-role', traits: { role: 'admin' } },
  { ...base, type: 'identify', userId: 'user-twice', traits: { email: 'twice@example.com' } },
  { ...base, type: 'identify', userId: 'user-12', timestamp: '2024-03-01T12:00:00.999Z',
    traits: { created_at: '2021-05-06', avatar: 'https://example.com/a.png', plan: 'pro', seats: 3 } },
  { ...base, type: 'identify', userId: 'user-13', timestamp: '1709294400', traits: { created_at: 1620259200 } },
  { ...base, type: 'identify', userId: 'user-14', traits: { created_at: '2021-05-06T07:08:09+02:00', avatar: 'not a url' } },
  { ...base, type: 'identify', userId: 'user-15', traits: { email: 'not an email' } },
  // date shapes beyond ISO 8601 (dayjs reads them; see the divergences of specs/intercom.yaml)
  { ...base, type: 'identify', userId: 'user-16', traits: { created_at: '2021-05-06 07:08:09' } },
  { ...base, type: 'identify', userId: 'user-17', traits: { created_at: '2021/05/06' } },
  { ...base, type: 'identify', userId: 'user-18', traits: { created_at: 'Thu, 06 May 2021 07:08:09 GMT' } },
  { ...base, type: 'identify', userId: 'user-19', traits: { created_at: 'May 6, 2021' } },
  { ...base, type: 'identify', userId: 'user-20', traits: { created_at: '2021-05-06T07:08:09.123+02:00' } },
  { ...base, type: 'identify', userId: 'user-21', traits: { created_at: '2021-02-30' } },
  { ...base, type: 'track', event: 'Bought', properties: { email: 'buyer@example.com', revenue: 19.99, currency: 'EUR', sku: 'a' } },
  { ...base, type: 'track', event: 'Bought', properties: { email: 'nobody@example.com', revenue: 5 } },
  { ...base, type: 'track', event: 'Bought', properties: { email: 'twice@example.com' } },
  { ...base, type: 'track', userId: 'user-1', event: 'Free', properties: { revenue: 0, currency: '' } },
  { ...base, type: 'track', userId: 'user-1', event: 'Refund', properties: { revenue: -12.5, email: 'x@example.com' } },
  { ...base, type: 'track', userId: 'user-1', event: 'Local Time', timestamp: '2024-03-01T13:00:00+01:00' },
  { ...base, type: 'track', userId: 'user-1', event: 'Bad Email', properties: { email: 'nope' } },
  { ...base, type: 'group', groupId: 'grp-4', traits: { email: 'anon-co@example.com', name: 'Anon Co', monthly_spend: 99.5,
    website: 'https://anon.example', plan: 'team' } },
  { ...base, type: 'group', userId: 'user-twice', groupId: 'grp-5', traits: { employees: '12' } },
  { ...base, type: 'group', userId: 'user-3', groupId: 'grp-6', traits: { createdAt: 'yesterday' } }
]

export default {
  segment: 'intercom',
  settings: { accessToken: TOKEN },
  auth: { accessToken: TOKEN },
  events: [...EVENTS, ...extra],
  subscriptions: [
    { name: 'Identify Contact', action: 'identifyContact', subscribe: 'type = "identify"',
      mapping: (settings, { def, defaultValues }) => ({ ...defaultValues(def.actions.identifyContact.fields),
        role: { '@if': { exists: { '@path': '$.traits.role' }, then: { '@path': '$.traits.role' }, else: 'user' } },
        signed_up_at: { '@path': '$.traits.created_at' },
        custom_attributes: { plan: { '@path': '$.traits.plan' }, seats: { '@path': '$.traits.seats' } } }) },
    { name: 'Track Event', action: 'trackEvent', subscribe: 'type = "track"',
      mapping: (settings, { def, defaultValues }) => defaultValues(def.actions.trackEvent.fields) },
    { name: 'Identify Company', action: 'groupIdentifyContact', subscribe: 'type = "group"',
      mapping: (settings, { def, defaultValues }) => defaultValues(def.actions.groupIdentifyContact.fields) }
  ],
  reply(method, url, body) {
    if (method === 'POST' && url === 'https://api.intercom.io/contacts/search') {
      const key = `${body?.query?.field}=${body?.query?.value}`
      if (TWICE.has(key)) {
        return { status: 200, body: { type: 'list', total_count: 2, data: [{ type: 'contact', id: 'c-1' }, { type: 'contact', id: 'c-2' }] } }
      }
      const id = KNOWN[key]
      return { status: 200, body: id ? { type: 'list', total_count: 1, data: [{ type: 'contact', id }] }
        : { type: 'list', total_count: 0, data: [] } }
    }
    if (method === 'POST' && url === 'https://api.intercom.io/companies') {
      return { status: 200, body: { type: 'company', id: `co-${body?.company_id}`, company_id: body?.company_id } }
    }
    return { status: 200, body: { type: 'ok' } }
  }
}
