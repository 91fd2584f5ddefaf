// Golden recording set-up of Userpilot (Actions): the shared events, no batches, and in the meta file how the
// endpoint setting is used (parsed with `new URL()`, kept as given when it parses, else the default).
export default {
  settings: { apiKey: 'test-key-123', endpoint: 'https://analytex.userpilot.io/' },
  async meta({ def, run }) {
    const endpoint_variants = []
    const event = { type: 'track', userId: 'user-1', event: 'Endpoint Check', properties: {} }
    for (const endpoint of ['https://analytex-eu.userpilot.io/', 'not a url', '', 'ftp://files.example/', 'HTTPS://Upper.Example']) {
      const r = await run('trackEvent', { event, mapping: def.presets[2].mapping,
        settings: { ...this.settings, endpoint } })
      endpoint_variants.push({ endpoint, status: r.status, error: r.error, requests: r.requests })
    }
    return { endpoint_variants }
  }
}
