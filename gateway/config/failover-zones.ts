// The rules of `upstreams.<name>.failover` a schema cannot express. The zones
// are compared with those of the upstream's own nodes, a node without a zone
// being in the gateway's own zone (`node.zone`, or without it the first of
// `failover.zones`), exactly as gateway/upstream/zones.ts will place it:
// - no node has a zone: there is nothing to fail over between (error);
// - a zone listed twice (error, at the second, naming the first);
// - a zone no node is in (error): almost always a typo ("dc-2" for "dc2"),
//   which would silently put that data centre last instead of second.
import type { CheckContext } from './issue-sink.js'
import type { Obj } from './plain-object.js'
import { suggest } from './validate.js'

/**
 * Checks `failover` of upstream `name` (it and `nodes` passed the schema);
 * `ownZone`: `node.zone` when valid. Returns true when there is no issue.
 */
export function checkFailover (name: string, nodes: readonly Obj[], failover: Obj, ownZone: string | undefined, ctx: CheckContext): boolean {
  const path = ['upstreams', name, 'failover']
  const zones = failover.zones as string[]
  const explicit = nodes.map((n) => n.zone as string | undefined)
  if (explicit.every((z) => z === undefined)) {
    ctx.issues.add(ctx.at(path), path,
      `no node of upstream ${JSON.stringify(name)} has a zone: give its nodes a zone (nodes[].zone), or remove failover`)
    return false
  }
  const local = ownZone ?? zones[0]!
  const present = new Set(explicit.map((z) => z ?? local))
  const listed = new Map<string, number>()
  let ok = true
  zones.forEach((zone, i) => {
    const at = [...path, 'zones', i]
    const first = listed.get(zone)
    if (first !== undefined) {
      ctx.issues.add(ctx.at(at), at, `zone ${JSON.stringify(zone)} listed twice`,
        { text: 'first listed at', location: ctx.at([...path, 'zones', first]) })
      ok = false
      return
    }
    listed.set(zone, i)
    if (present.has(zone)) return
    const guess = suggest(zone, present)
    ctx.issues.add(ctx.at(at), at, `no node of upstream ${JSON.stringify(name)} is in zone ${JSON.stringify(zone)}` +
      (guess !== undefined ? ` (did you mean ${JSON.stringify(guess)}?)` : '') + `; the zones of its nodes: ${[...present].sort().join(', ')}`)
    ok = false
  })
  return ok
}
