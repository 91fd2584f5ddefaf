// Golden recording set-up of Slack (Actions). Segment's Slack has no presets and its webhook URL is a field of the
// mapping; the engine takes it from the instance's `url` setting (event data never decides the host), so every
// Segment mapping below puts the settings' URL in its `url` field. The variants record Segment's check of the
// URL (its regular expression) on other URLs.
import { EVENTS } from './events.mjs'

const post = (overrides) => (settings, { def, defaultValues }) =>
  ({ ...defaultValues(def.actions.postToChannel.fields), url: settings.url, ...overrides })
const message = { text: { '@template': '{{event}} by {{userId}}: {{properties.revenue}}' }, channel: 'general' }
const identify = { text: { '@path': '$.traits.email' }, channel: { '@path': '$.traits.plan' },
  username: { '@path': '$.traits.name' }, icon_url: { '@path': '$.context.page.url' } }
const tracks = EVENTS.filter((e) => e.type === 'track')

export default {
  settings: { url: 'https://hooks.slack.com/services/T0000/B0000/XXXXXXXX' },
  subscriptions: [
    { name: 'Post Track', subscribe: 'type = "track"', action: 'postToChannel', mapping: post(message),
      engine_mapping: message },
    { name: 'Post Identify', subscribe: 'type = "identify"', action: 'postToChannel', mapping: post(identify),
      engine_mapping: identify }
  ],
  events: EVENTS,
  variants: [
    'https://example.com/hook',                       // not Slack
    'http://hooks.slack.com/services/T0/B0/X',        // not https
    'https://hooks.slack.com/services/T0/B0/X?a=1',   // a query
    'https://hooks.slack.com',                        // no path
    'https://hooks.slack.com/services/T0/B0/a-b',     // a character the path class lacks
    'https://x.slack.com.evil.example/a',             // slack.com not at the end of the host
    'https://hooks.slackXcom/services/T0',            // Segment's unescaped dot matches any character
    'https://a.b.slack.com/A1/'                       // a deeper host, a trailing slash
  ].map((url) => ({ settings: { url }, events: tracks.slice(0, 1) }))
}
