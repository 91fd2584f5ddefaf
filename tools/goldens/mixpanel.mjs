// Golden recording set-up of Mixpanel (Actions): the shared events plus Mixpanel's own (user agents of each
// browser family, timestamps, Order Completed with products, group keys), single events and batches of the two
// batching actions (trackEvent, trackPurchase). alias and incrementProperties have no preset: the meta file
// records them (`actions`), each run on its default mapping.
// Nondeterministic: `time` is the current time when the event has no usable timestamp, and $insert_id is
// random when it has no messageId (also in the Product Purchased events derived from an order).
import { EVENTS, base, ctx, copies } from './events.mjs'

const UA = {
  chrome: ctx.userAgent,
  safari: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
  iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
  firefox: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0',
  edge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91',
  opera: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0',
  ie11: 'Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko',
  ie10: 'Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)',
  samsung: 'Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36',
  crios: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1',
  fxios: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15',
  blackberry: 'Mozilla/5.0 (BB10; Touch) AppleWebKit/537.10+ (KHTML, like Gecko) Version/10.0.9.2372 Mobile Safari/537.10+',
  bbold: 'BlackBerry9700/5.0.0.351 Profile/MIDP-2.1 Configuration/CLDC-1.1 VendorID/123',
  android: 'Mozilla/5.0 (Linux; U; android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebkit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30',
  fb: 'Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/390.0]',
  curl: 'curl/8.4.0',
  noversion: 'Mozilla/5.0 Chrome/120 Safari',
  twice: 'Chrome/1 Chrome/2.5 Chrome/3.6.7'
}

const track = (event, extra = {}) => ({ ...base, type: 'track', userId: 'user-1', event, properties: { a: 1 }, ...extra })

const order = { ...base, type: 'track', userId: 'user-1', event: 'Order Completed', context: ctx,
  properties: { order_id: 'o-2', revenue: 30, total: 32, currency: 'USD', coupon: 'SPRING',
    products: [{ product_id: 'p-1', sku: 'S1', name: 'Shirt', price: 10, quantity: 2, color: 'blue' },
      { product_id: 'p-2', sku: 'S2', name: 'Hat', price: 10, quantity: 1 }] } }

export default {
  settings: { projectToken: 'test-token-123', apiSecret: 'test-secret-456' },
  events: [
    ...EVENTS,
    ...Object.entries(UA).map(([name, ua]) => track(`UA ${name}`, { context: { userAgent: ua } })),
    track('Empty UA', { context: { userAgent: '' } }),
    track('Millis', { timestamp: '2024-03-01T12:00:00.123Z' }),
    track('Offset', { timestamp: '2024-03-01T14:00:00+02:00' }),
    track('Date Only', { timestamp: '2024-03-01' }),
    track('Epoch Number', { timestamp: 1709294400123 }),
    track('Reserved', { properties: { time: 1, id: 'x', distinct_id: 'x', $insert_id: 'x', $browser: 'Mine', ip: '10.0.0.1', plan: 'pro' } }),
    track('Iterable', { context: { integration: { name: 'Iterable' } } }),
    track('Full Context', { context: { ...ctx, groupId: 'grp-1', app: { name: 'App', version: '1.2', build: '42', namespace: 'com.app', platform: 'ios' },
      os: { name: 'iOS', version: '17.2' }, device: { id: 'd-1', type: 'ios', name: 'Ada iPhone', manufacturer: 'Apple', model: 'iPhone15,2', advertisingId: 'ad-1', adTrackingEnabled: true },
      network: { bluetooth: false, cellular: true, wifi: false, carrier: 'T-Mobile' }, location: { country: 'DE', region: 'BE' },
      userAgentData: { mobile: true, platform: 'iOS', bitness: '64', platformVersion: '17.2', uaFullVersion: '120.0', wow64: false } } }),
    order,
    { ...order, messageId: 'msg-o3', properties: { ...order.properties, products: [] } },
    { ...order, messageId: 'msg-o4', properties: { order_id: 'o-4', revenue: 5 } },
    { ...base, type: 'screen', userId: 'user-1', properties: { a: 1 } },
    { ...base, type: 'identify', anonymousId: 'anon-9', traits: { firstName: 'Ada', lastName: 'Lovelace', username: 'ada', phone: '1', created: '2020-01-01' } },
    { ...base, type: 'identify', userId: 'user-9', anonymousId: undefined, traits: { firstName: 'Ada', name: 'Countess', email: 'a@b.test' } },
    { ...base, type: 'identify', userId: 'user-9', traits: {} },
    { ...base, type: 'identify', userId: 'user-9', traits: { note: 'a*b~c d&e=f+g/h' } },
    { ...base, type: 'group', userId: 'user-1', groupId: 'grp-9', traits: { $group_id: 'from-traits', name: 'Acme', createdAt: '2020-01-01' } },
    { ...base, type: 'group', userId: 'user-1', groupId: 'grp-9', traits: {} }
  ],
  batches: [
    { name: 'tracks', preset: 'Track Calls', events: copies(track('Clicked'), 3) },
    { name: 'tracks-one-invalid', preset: 'Track Calls',
      events: [...copies(track('Clicked'), 2), { ...track('Clicked'), messageId: 'bad', event: undefined, properties: {} }] },
    { name: 'pages', preset: 'Page Calls', events: copies({ ...base, type: 'page', userId: 'user-1', name: 'Home', context: ctx }, 2) },
    { name: 'eu-source', preset: 'Track Calls', events: copies(track('Clicked'), 2),
      settings: { apiRegion: 'EU 🇪🇺', sourceName: 'web', strictMode: '0' } },
    { name: 'orders', preset: 'Order Completed Calls', events: [order, { ...order, messageId: 'msg-o5', properties: { revenue: 1 } }] },
    { name: 'orders-no-products', preset: 'Order Completed Calls', events: copies(order, 2),
      mapping: { generatePurchaseEventPerProduct: false } }
  ],
  nondeterministic(event, results) {
    const paths = []
    results.forEach((r, i) => r.requests.forEach((req, j) => {
      if (!Array.isArray(req.body)) return
      req.body.forEach((ev, k) => {
        const at = `results[${i}].requests[${j}].body[${k}].properties`
        if (!event.timestamp || typeof event.timestamp === 'string' && isNaN(Date.parse(event.timestamp))) paths.push(`${at}.time`)
        if (event.messageId === undefined || event.messageId === null) paths.push(`${at}.$insert_id`)
      })
    }))
    return paths
  },
  async meta({ def, run }) {
    const alias = { ...base, type: 'alias', userId: 'user-1', previousId: 'anon-1' }
    const mapping = (action) => Object.fromEntries(Object.entries(def.actions[action].fields)
      .filter(([, f]) => f.default !== undefined).map(([k, f]) => [k, f.default]))
    const inc = (increment) => ({ ...base, type: 'track', userId: 'user-1', event: 'Inc', properties: { increment } })
    const cases = [
      ['alias', alias], ['alias', { ...base, type: 'alias', anonymousId: 'anon-2', previousId: 'old-1' }],
      ['alias', { ...base, type: 'alias', userId: 'user-1' }],
      ['incrementProperties', inc({ logins: 1, spent: '9.5', neg: -2, flag: true, obj: { a: 1 }, blank: '' })],
      ['incrementProperties', inc({ bad: 'abc' })],
      ['incrementProperties', inc({})],
      ['incrementProperties', inc(Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 1])))],
      ['incrementProperties', { ...base, type: 'track', userId: 'user-1', event: 'Inc', properties: {} }],
      ['incrementProperties', { ...inc({ visits: 1 }), userId: undefined }]
    ]
    const actions = []
    for (const [action, event] of cases) actions.push({ action, event, ...(await run(action, { event, mapping: mapping(action) })) })
    return { actions }
  }
}
