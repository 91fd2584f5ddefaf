// Golden recording set-up of PostHog (Actions): the shared events through the package's four presets, settings
// variants (EU endpoint, historical migration and GeoIP off), and batches through performBatch (the track action
// has one; Segment sends single events through the same /batch/ endpoint as a batch of one).
import { EVENTS, base, ctx, copies } from './events.mjs'

const track = { ...base, type: 'track', userId: 'user-1', event: 'Order Completed', context: ctx,
  receivedAt: '2024-03-01T12:00:01.000Z', properties: { order_id: 'o-1', revenue: 99.5, $ip: '198.51.100.1' } }
const page = { ...base, type: 'page', userId: 'user-1', name: 'Pricing', context: ctx, properties: { path: '/pricing' } }
const screen = { ...base, type: 'screen', userId: 'user-1', name: 'Home', context: { ip: '203.0.113.9' } }
const on = { enable_batching: true }
const tracks = EVENTS.filter((e) => e.type === 'track')

export default {
  settings: { api_key: 'phc_test_key_123', project_id: '12345', endpoint: 'https://us.i.posthog.com',
    historical_migration: false, geoip_disable: false },
  events: [...EVENTS, track, page, screen,
    { ...track, messageId: 'msg-ip6', context: { ip: '2001:db8::1' } },
    { ...track, messageId: 'msg-ipnull', context: { ip: null } },
    { ...track, messageId: 'msg-ts', receivedAt: 'yesterday' }],
  variants: [
    { settings: { endpoint: 'https://eu.i.posthog.com', historical_migration: true, geoip_disable: true },
      events: [track, page, screen, EVENTS[0]] }
  ],
  batches: [
    { name: 'tracks', preset: 'Track Event', mapping: on, events: copies(track, 5) },
    { name: 'shared-tracks', preset: 'Track Event', mapping: on, events: tracks },
    { name: 'pages', preset: 'Page View', mapping: on, events: copies(page, 3) },
    { name: 'screens', preset: 'Screen View', mapping: on, events: copies(screen, 3) },
    { name: 'eu-migration', preset: 'Track Event', mapping: on, events: copies(track, 2),
      settings: { endpoint: 'https://eu.i.posthog.com', historical_migration: true, geoip_disable: true } },
    { name: 'refused', preset: 'Track Event', mapping: on, events: copies({ ...track, properties: { order_id: 'refuse-me' } }, 3, 'r') }
  ],
  // PostHog refuses the `refused` batch (order_id "refuse-me"): every item fails
  reply(method, url, body) {
    const batch = body && Array.isArray(body.batch) ? body.batch : []
    if (batch.some((e) => e.properties && e.properties.order_id === 'refuse-me')) return { status: 503, body: { error: 'busy' } }
    return { status: 200, body: { status: 1 } }
  }
}
