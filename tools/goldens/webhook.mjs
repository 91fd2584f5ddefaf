// Golden recording set-up of Webhook (Actions). Segment's Webhook has no presets and its URL is a field of the
// mapping; the engine takes the URL from the instance's `url` setting (event data never decides the host), so
// every Segment mapping below puts the same URL in its `url` field as the settings give the engine.
import { EVENTS, base, ctx, copies } from './events.mjs'

const URL = 'https://hooks.example.com/segment'
const ALL = 'type = "track" or type = "identify" or type = "page" or type = "screen" or type = "group" or type = "alias"'
const send = (overrides) => (settings, { def, defaultValues }) =>
  ({ ...defaultValues(def.actions.send.fields), url: settings.url, ...overrides })

const track = { ...base, type: 'track', userId: 'user-1', event: 'Order Completed', context: ctx,
  properties: { order_id: 'o-1', revenue: 99.5, currency: 'EUR', note: 'zoë ✓' } }

export default {
  settings: { url: URL, sharedSecret: 'shh-webhook-secret' },
  subscriptions: [
    { name: 'Send Everything', subscribe: ALL, action: 'send', mapping: send({}), engine_mapping: {} },
    { name: 'Put Traits', subscribe: 'type = "identify"', action: 'send',
      mapping: send({ method: 'PUT', headers: { 'X-Source': 'segment', 'X-User': { '@path': '$.userId' } },
        data: { '@path': '$.traits' } }),
      engine_mapping: { method: 'PUT', headers: { 'X-Source': 'segment', 'X-User': { '@path': '$.userId' } },
        data: { '@path': '$.traits' } } },
    { name: 'Patch Event', subscribe: 'type = "track" and event = "Order Completed"', action: 'send',
      mapping: send({ method: 'PATCH', data: { id: { '@path': '$.messageId' }, props: { '@path': '$.properties' } } }),
      engine_mapping: { method: 'PATCH', data: { id: { '@path': '$.messageId' }, props: { '@path': '$.properties' } } } }
  ],
  events: EVENTS,
  // without a shared secret: no X-Signature header
  variants: [{ settings: { sharedSecret: '' }, events: EVENTS.filter((e) => e.type === 'track').slice(0, 3) }],
  batches: [
    { name: 'tracks', preset: 'Send Everything', mapping: { enable_batching: true }, events: copies(track, 5) },
    { name: 'mixed-types', preset: 'Send Everything', mapping: { enable_batching: true },
      events: EVENTS.filter((e) => ['track', 'page', 'identify'].includes(e.type)).slice(0, 12) },
    { name: 'put-traits', preset: 'Put Traits', mapping: { enable_batching: true },
      events: copies({ ...base, type: 'identify', userId: 'user-9', traits: { email: 'b@example.com' } }, 3) },
    { name: 'no-secret', preset: 'Send Everything', mapping: { enable_batching: true }, settings: { sharedSecret: '' },
      events: copies(track, 2) },
    { name: 'refused', preset: 'Send Everything', mapping: { enable_batching: true }, events: copies(track, 3, 'r') }
  ],
  // the receiver refuses the batch of the `refused` case (its events' messageIds start with r-): every item fails
  reply(method, url, body) {
    if (Array.isArray(body) && body.some((d) => d && String(d.messageId || '').startsWith('r-'))) {
      return { status: 500, body: { error: 'receiver down' } }
    }
    return { status: 200, body: { ok: true } }
  }
}
