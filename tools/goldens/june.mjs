// Golden recording set-up of June (Actions): the shared events plus a few of June's own (timestamps that its
// date-time format refuses or accepts, page events with and without a name). One request per event; June's
// actions have no performBatch, so there are no batches.
import { EVENTS, base } from './events.mjs'

export default {
  settings: { apiKey: 'test-key-123' },
  events: [
    ...EVENTS,
    { ...base, type: 'track', userId: 'user-1', event: 'No Time', timestamp: undefined },
    { ...base, type: 'track', userId: 'user-1', event: 'Date Only', timestamp: '2024-03-01' },
    { ...base, type: 'track', userId: 'user-1', event: 'Offset', timestamp: '2024-03-01T12:00:00+02:00' },
    { ...base, type: 'track', userId: 'user-1', event: 'No Zone', timestamp: '2024-03-01T12:00:00' },
    { ...base, type: 'track', userId: 'user-1', event: 'Epoch', timestamp: 1709294400000 },
    { ...base, type: 'track', userId: 'user-1', event: 'No Message Id', messageId: undefined },
    { ...base, type: 'page', userId: 'user-1', messageId: undefined, properties: { name: 'Docs', url: 'https://x.test/docs' } },
    { ...base, type: 'page', userId: 'user-1', name: 'Top Level Name', properties: { title: 'T' } },
    { ...base, type: 'identify', userId: 'user-1', traits: { email: 'a@b.test' }, timestamp: 'yesterday' },
    { ...base, type: 'group', userId: 'user-1', groupId: 'grp-1', messageId: undefined, traits: { name: 'Acme' } }
  ]
}
