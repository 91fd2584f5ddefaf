// Golden recording set-up of m3ter: measurements from track events (properties uid, meter, account), single and
// in batches (performBatch sends {measurements: [...]} to the ingest API; 1,000 at most per request).
// m3ter authenticates with OAuth2 (client credentials): the recorded actions run with the access token
// `auth.accessToken` below, and the meta file records the token request Segment's credentials test makes.
import { EVENTS, base, copies } from './events.mjs'

const usage = { ...base, type: 'track', userId: 'user-1', event: 'API Call',
  properties: { uid: 'm-1', meter: 'api_calls', account: 'acme' } }

export default {
  settings: { access_key_id: 'key-id-123', api_secret: 'api-secret-456', org_id: 'org-789' },
  auth: { accessToken: 'test-access-token' },
  reply(method, url) {
    if (url.endsWith('/oauth/token')) return { status: 200, body: { access_token: 'test-access-token', token_type: 'Bearer', expires_in: 18000 } }
    return { status: 200, body: { result: 'accepted' } }
  },
  events: [
    ...EVENTS,
    usage,
    { ...usage, properties: { ...usage.properties, uid: 'm-2', extra: 'dropped' }, timestamp: 1709294400 },
    { ...usage, properties: { meter: 'api_calls', account: 'acme' } },
    { ...usage, properties: { uid: 'm-3', meter: 7, account: 'acme' } },
    { ...usage, timestamp: 'not a date' },
    { ...usage, timestamp: undefined },
    { ...usage, type: 'identify', traits: usage.properties }
  ],
  batches: [
    { name: 'three', preset: 'Submit usage data to m3ter', events: copies(usage, 3) },
    { name: 'one-invalid', preset: 'Submit usage data to m3ter',
      events: [...copies(usage, 2), { ...usage, messageId: 'bad', properties: { meter: 'api_calls' } }, ...copies(usage, 1, 'c')] },
    { name: 'with-values', preset: 'Submit usage data to m3ter', events: copies(usage, 2),
      mapping: { measure: { '@path': '$.properties.n' } } },
    { name: 'objects', preset: 'Submit usage data to m3ter', events: copies(usage, 2),
      mapping: { measure: { calls: { '@path': '$.properties.n' } }, who: { user: { '@path': '$.userId' } },
        ets: { '@path': '$.timestamp' } } }
  ]
}
