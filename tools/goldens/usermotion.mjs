// Golden recording set-up of UserMotion (Actions): the shared events, one request per event, no batches.
export default {
  settings: { apiKey: 'test-key-123' }
}
