// Golden recording set-up of Usermaven (Actions): the shared events, no batches.
export default {
  settings: { api_key: 'test-key-123', server_token: 'test-token-456' },
  // Two body values depend on when and how it runs: body.user.anonymous_id when the event has no anonymousId
  // (a random 10-digit string), and body.local_tz_offset (the zone's offset at recording time: zones with
  // daylight saving time change it during the year). The test drops them from both sides.
  nondeterministic(event, results) {
    const paths = []
    results.forEach((r, i) => {
      r.requests.forEach((req, j) => {
        const b = req.body || {}
        if (b.user && !event.anonymousId) paths.push(`results[${i}].requests[${j}].body.user.anonymous_id`)
        if ('local_tz_offset' in b) paths.push(`results[${i}].requests[${j}].body.local_tz_offset`)
      })
    })
    return paths
  }
}
