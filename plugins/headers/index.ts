// headers: set or remove request headers sent upstream and response headers sent
// to the client. Names are lower-cased and values fixed at config load, so a
// request only does property writes.
import type { OutgoingHttpHeaders } from 'node:http'
import type { PluginDefinition, PluginInstance } from '../types.js'

interface HeaderEdits {
  set: Record<string, string>
  remove: string[]
}

export interface HeadersOptions {
  request: HeaderEdits
  response: HeaderEdits
}

const editsSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    set: {
      type: 'object',
      default: {},
      propertyNames: { pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' },
      additionalProperties: { type: 'string', pattern: '^[^\\r\\n\\u0000]*$' }
    },
    remove: { type: 'array', default: [], items: { type: 'string', minLength: 1 } }
  }
}

/** A compiled list of edits: parallel arrays, applied in a tight loop. */
function compile (edits: HeaderEdits): ((h: OutgoingHttpHeaders) => void) | undefined {
  const removeNames = edits.remove.map((n) => n.toLowerCase())
  const setNames = Object.keys(edits.set).map((n) => n.toLowerCase())
  const setValues = Object.values(edits.set)
  if (removeNames.length === 0 && setNames.length === 0) return undefined
  return (h) => {
    for (let i = 0; i < removeNames.length; i++) delete h[removeNames[i]!]
    for (let i = 0; i < setNames.length; i++) h[setNames[i]!] = setValues[i]
  }
}

export const headersPlugin: PluginDefinition<HeadersOptions> = {
  name: 'headers',
  priority: 100,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { request: editsSchema, response: editsSchema }
  },
  create (options) {
    const onRequest = compile(options.request)
    const onResponse = compile(options.response)
    const instance: PluginInstance = {}
    if (onRequest !== undefined) instance.access = (ctx) => { onRequest(ctx.upstreamHeaders) }
    if (onResponse !== undefined) instance.response = (_ctx, _status, headers) => { onResponse(headers) }
    return instance
  }
}
