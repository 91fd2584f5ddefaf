// Golden recording set-up of Actions Pipedrive (destinations/pipedrive). The subscriptions: its three automatic
// presets (person on identify, organization on group, activity on track "Activity Upserted"; the engine's test
// subscribes them on the spec's field defaults), then the deal, lead and note actions, which no preset runs, and a
// person subscription whose match field comes from the event. The mocked Pipedrive knows a few records: a field search for one of them answers
// its id, any other search answers no items, so both the found and the not-found path are recorded; a search by
// the field key "bogus" answers 400 (counted as not found by both) and by "boom" 500 (a divergence: Segment
// creates, the spec fails the event; skipped in pipedrive.skips.json).
import { EVENTS, base } from './events.mjs'

// field_type -> {field_key: {term: id}}
const KNOWN = {
  personField: { id: { 'user-1': 42, 'user-3': 43, 'usér/1 ü': 44 }, email: { 'ada@example.com': 45 } },
  organizationField: { id: { 'grp-1': 7, 777: 8 }, org_ext: { 'ext-org-1': 9 } },
  dealField: { id: { 'd-1': 99 }, deal_ext: { 'ext-deal-1': 98 } }
}

const track = (event, properties, more = {}) => ({ ...base, type: 'track', userId: 'user-1', event, properties, ...more })

const extra = [
  // activities (the preset)
  track('Activity Upserted', { deal_id: 'd-1', subject: 'Demo call', type: 'call', description: 'Agenda', note: 'Internal',
    due_date: '2024-03-04', due_time: '10:00', duration: '00:30', done: false }, { context: { groupId: 'grp-1' } }),
  track('Activity Upserted', { activity_id: 512, done: true }, { userId: undefined }),
  track('Activity Upserted', { activity_id: 0, subject: 'Zero id' }, { userId: 'user-404' }),
  track('Activity Upserted', { activity_id: '77', done: null, deal_id: 'd-404' }),
  track('Activity Upserted', { activity_id: 'x1' }),
  // deals
  track('Deal Upserted', { deal_id: 'd-1', title: 'Big deal', value: '5000', currency: 'EUR', stage_id: 3,
    expected_close_date: '2024-06-30', success_probability: 80, lost_reason: 'none' }, { context: { groupId: 'grp-1' } }),
  track('Deal Upserted', { title: 'New deal', value: 12.5, stage_id: '4' }),
  track('Deal Upserted', { title: 'Orphan' }, { userId: 'user-404' }),
  track('Deal Upserted', { deal_id: 'd-404', title: 'Unknown deal, known org' }, { userId: null, context: { groupId: 'grp-1' } }),
  track('Deal Upserted', { deal_id: 'd-1' }),
  track('Deal Upserted', { deal_id: 'd-404', title: 'Only the deal id' }, { userId: 'user-404' }),
  // deals through the "custom" subscription: match fields and custom fields from the event
  track('Deal Custom', { deal_id: 'ext-deal-1', title: 'Ext deal', deal_field: 'deal_ext', source: 'web' }),
  track('Deal Custom', { deal_id: 'ext-deal-2', title: 'Ext deal new', deal_field: 'deal_ext', source: 'ads' }),
  track('Deal Custom', { deal_id: '123', title: 'By id, not found', deal_field: 'id' }),
  track('Deal Custom', { title: 'Custom id', custom_id: 555 }),
  track('Deal Custom', { title: 'Status', status: 'won', visible: '3', created: '2024-03-01 12:00:00' }),
  track('Deal Custom', { title: 'Bad status', status: 'maybe' }),
  // leads (identify events run the lead subscription too)
  { ...base, type: 'identify', userId: 'user-1', traits: { lead_id: '3f6a0b5e-lead', title: 'Hot lead', amount: 1200,
    currency: 'USD', expected_close_date: '2024-07-01' } },
  track('Lead Upserted', { title: 'Warm lead', amount: 50 }, { userId: undefined, context: { groupId: 'grp-1' } }),
  track('Lead Upserted', { title: 'Zero lead', amount: 0, currency: 'EUR' }),
  track('Lead Upserted', { title: 'Lost lead' }, { userId: 'user-404' }),
  track('Lead Upserted', { title: 'Empty id', lead_id: '' }),
  // notes
  track('Note Upserted', { lead_id: '3f6a0b5e-lead', content: '<p>Call back</p>' }, { userId: undefined }),
  track('Note Upserted', { note_id: 77, deal_id: 'd-1', content: 'Edited' }, { userId: undefined }),
  track('Note Upserted', { content: 'Lonely' }, { userId: 'user-404' }),
  track('Note Upserted', { note_id: 0, content: 'Zero id' }, { userId: 'user-404' }),
  track('Note Upserted', { content: 'Known person' }, { context: { groupId: 'ext-org-404' } }),
  track('Note Upserted', { deal_id: 'd-1' }),
  // persons by a match field from the event (bogus: 400, boom: 500)
  track('Person Upserted', { match_field: 'email', name: 'Ada', email: 'ada@example.com' }, { userId: 'ada@example.com' }),
  track('Person Upserted', { match_field: 'email', name: 'Eve', email: ['eve@example.com', 'e@example.com'],
    phone: ['+1 555', '+1 556'], visible: 7, created: 1709294400 }, { userId: 'eve@example.com' }),
  track('Person Upserted', { match_field: 'bogus', name: 'Bogus' }, { userId: 'user-1' }),
  track('Person Upserted', { match_field: 'boom', name: 'Boom' }, { userId: 'user-1' }),
  track('Person Upserted', { name: 'Empty match' }, { userId: '' }),
  track('Person Upserted', { name: 'Custom', custom: { name: 'Overridden', hash_1: 'v' } }, { userId: 'user-3' }),
  // characters URLSearchParams and the engine's query encoding write differently (see pipedrive.skips.json)
  { ...base, type: 'identify', userId: 'a~b*c' },
  // organizations
  { ...base, type: 'group', userId: 'user-1', groupId: 'ext-org-1', traits: { name: 'Ext Org' } },
  { ...base, type: 'group', groupId: 'grp-404', traits: { name: 'New Org', createdAt: '2019-09-09T00:00:00Z' } }
]

export default {
  settings: { domain: 'acme', apiToken: 'test-token-123' },
  events: [...EVENTS, ...extra],
  subscriptions: [
    // Segment's presets, on their mapping (the action's defaults); the engine's on the spec's defaults
    ...['createUpdatePerson', 'createUpdateOrganization', 'createUpdateActivity'].map((action, i) => ({
      name: ['Create or Update a Person', 'Create or Update an Organization', 'Create or Update an Activity'][i],
      subscribe: ['type = "identify"', 'type = "group"', 'type = "track" and event = "Activity Upserted"'][i],
      action, mapping: (settings, { def, defaultValues }) => defaultValues(def.actions[action].fields),
      engine_mapping: {} })),
    { name: 'Deal Upserted', action: 'createUpdateDeal', subscribe: 'type = "track" and event = "Deal Upserted"',
      mapping: (settings, { def, defaultValues }) => defaultValues(def.actions.createUpdateDeal.fields) },
    { name: 'Deal Custom', action: 'createUpdateDeal', subscribe: 'type = "track" and event = "Deal Custom"',
      mapping: (settings, { def, defaultValues }) => ({ ...defaultValues(def.actions.createUpdateDeal.fields),
        deal_match_field: { '@path': '$.properties.deal_field' },
        person_match_field: 'id', organization_match_field: 'org_ext',
        status: { '@path': '$.properties.status' }, visible_to: { '@path': '$.properties.visible' },
        add_time: { '@path': '$.properties.created' },
        custom_fields: { source_key: { '@path': '$.properties.source' }, id: { '@path': '$.properties.custom_id' } } }) },
    { name: 'Lead Upserted', action: 'createUpdateLead', subscribe: 'type = "identify" or event = "Lead Upserted"',
      mapping: (settings, { def, defaultValues }) => ({ ...defaultValues(def.actions.createUpdateLead.fields), visible_to: '1' }) },
    { name: 'Note Upserted', action: 'createUpdateNote', subscribe: 'type = "track" and event = "Note Upserted"',
      mapping: (settings, { def, defaultValues }) => ({ ...defaultValues(def.actions.createUpdateNote.fields),
        organization_match_field: 'org_ext' }) },
    { name: 'Person Upserted', action: 'createUpdatePerson', subscribe: 'type = "track" and event = "Person Upserted"',
      mapping: (settings, { def, defaultValues }) => ({ ...defaultValues(def.actions.createUpdatePerson.fields),
        match_field: { '@path': '$.properties.match_field' }, name: { '@path': '$.properties.name' },
        email: { '@path': '$.properties.email' }, phone: { '@path': '$.properties.phone' },
        visible_to: { '@path': '$.properties.visible' }, add_time: { '@path': '$.properties.created' },
        custom_fields: { '@path': '$.properties.custom' } }) }
  ],
  reply(method, url) {
    const u = new URL(url)
    if (method === 'GET' && u.pathname === '/api/v1/itemSearch/field') {
      const key = u.searchParams.get('field_key')
      if (key === 'bogus') return { status: 400, body: { success: false, error: 'Unknown field_key', error_info: 'bogus' } }
      if (key === 'boom') return { status: 500, body: { success: false, error: 'Internal error' } }
      const id = KNOWN[u.searchParams.get('field_type')]?.[key]?.[u.searchParams.get('term')]
      return { status: 200, body: { success: true, data: id ? [{ id, type: 'item' }] : [],
        additional_data: { pagination: { more_items_in_collection: false } } } }
    }
    if (method === 'POST') return { status: 201, body: { success: true, data: { id: 1001 } } }
    return { status: 200, body: { success: true, data: { id: 1000 } } }
  }
}
