// The same node listed twice in one upstream doubles its share of the traffic
// and lets a retry "elsewhere" land on it again: refused, with the weight to
// write instead. Nodes are compared by their normalised URL (scheme, lower-case
// host, port, base path without trailing "/").
import type { CheckContext } from './issue-sink.js'
import type { Obj } from './plain-object.js'

const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' }

/** `http://host:port/base`, the same for every spelling of one node. */
export function nodeKey (url: string): string {
  const u = new URL(url)
  const port = u.port === '' ? DEFAULT_PORTS[u.protocol] ?? '' : u.port
  return `${u.protocol}//${u.hostname}:${port}${u.pathname.replace(/\/+$/, '')}`
}

/**
 * Reports every node of upstream `name` whose URL an earlier node already has
 * (at the later entry, naming the first). `nodes` passed the schema. Returns
 * true when there is none.
 */
export function checkDuplicateNodes (name: string, nodes: readonly Obj[], ctx: CheckContext): boolean {
  const byKey = new Map<string, number[]>()
  nodes.forEach((n, i) => {
    const key = nodeKey(n.url as string)
    const list = byKey.get(key)
    if (list === undefined) byKey.set(key, [i])
    else list.push(i)
  })
  let ok = true
  for (const [key, indexes] of byKey) {
    if (indexes.length < 2) continue
    ok = false
    const weight = indexes.reduce((sum, i) => sum + (nodes[i]!.weight as number), 0)
    const first = ctx.at(['upstreams', name, 'nodes', indexes[0]!, 'url'])
    for (const i of indexes.slice(1)) {
      const path = ['upstreams', name, 'nodes', i, 'url']
      ctx.issues.add(ctx.at(path), path, `node ${key} listed twice; use weight: ${weight} instead`,
        { text: 'first listed at', location: first })
    }
  }
  return ok
}
