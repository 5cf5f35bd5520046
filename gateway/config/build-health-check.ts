// `upstreams.<name>.healthCheck` beyond the schema: the defaults that depend
// on the interval (timeout: 1s, at most half the interval; jitter: a tenth of
// the interval), the checks across its keys (timeout shorter than the
// interval, jitter not longer than it), and the rule that a node address has
// one health check: the gateway runs one prober per address however many
// upstreams list it, and its verdict applies to all of them, so every upstream
// listing an address must configure the same healthCheck, or none.
import type { CheckContext } from './issue-sink.js'
import type { Obj } from './plain-object.js'
import type { HealthCheckConfig, UpstreamConfig } from './types.js'

/** Checks upstream `name`'s healthCheck (it passed the schema); returns its output form when valid. */
export function buildHealthCheck (name: string, hc: Obj, ctx: CheckContext): HealthCheckConfig | undefined {
  const path = ['upstreams', name, 'healthCheck']
  const interval = hc.interval as number
  const timeout = hc.timeout as number | undefined
  const jitter = hc.jitter as number | undefined
  let ok = true
  if (timeout !== undefined && timeout >= interval) {
    ctx.issues.add(ctx.at([...path, 'timeout']), [...path, 'timeout'],
      `must be shorter than healthCheck.interval (${interval}ms): a probe would still be waiting when the next one is due`)
    ok = false
  }
  if (jitter !== undefined && jitter > interval) {
    ctx.issues.add(ctx.at([...path, 'jitter']), [...path, 'jitter'], `must not be longer than healthCheck.interval (${interval}ms)`)
    ok = false
  }
  if (!ok) return undefined
  const out: HealthCheckConfig = {
    path: hc.path as string,
    interval,
    jitter: jitter ?? Math.floor(interval / 10),
    timeout: timeout ?? Math.max(1, Math.min(1_000, Math.floor(interval / 2))),
    healthyThreshold: hc.healthyThreshold as number,
    unhealthyThreshold: hc.unhealthyThreshold as number,
    statuses: [...new Set(hc.statuses as number[])].sort((a, b) => a - b)
  }
  if (hc.host !== undefined) out.host = (hc.host as string).toLowerCase()
  return out
}

/** The address a node's health is kept under (NodeHealth, one per `http://host:port`). */
export function nodeAddress (url: string): string {
  return new URL(url).origin
}

/**
 * Reports each upstream (in the order written) that lists a node address an
 * earlier upstream also lists with a different healthCheck, or with one where
 * this has none or the reverse: once per upstream, at its healthCheck (or at
 * the node, when it has none), naming where the earlier one is.
 */
export function checkSharedHealthChecks (upstreams: readonly UpstreamConfig[], ctx: CheckContext): void {
  const first = new Map<string, { upstream: UpstreamConfig; node: number; key: string }>()
  for (const u of upstreams) {
    const key = u.healthCheck === undefined ? '' : JSON.stringify(u.healthCheck)
    let reported = false
    u.nodes.forEach((n, i) => {
      const address = nodeAddress(n.url)
      const seen = first.get(address)
      if (seen === undefined) {
        first.set(address, { upstream: u, node: i, key })
        return
      }
      if (seen.key === key || reported) return
      reported = true
      const other = seen.upstream
      const theirs = other.healthCheck === undefined
        ? 'without a healthCheck'
        : u.healthCheck === undefined ? 'with a healthCheck' : 'with a different healthCheck'
      // At the `healthCheck:` key, or at the node's URL when the upstream has none.
      const here = u.healthCheck === undefined ? ['upstreams', u.name, 'nodes', i, 'url'] : ['upstreams', u.name, 'healthCheck']
      const there = other.healthCheck === undefined
        ? ['upstreams', other.name, 'nodes', seen.node, 'url']
        : ['upstreams', other.name, 'healthCheck']
      ctx.issues.add(ctx.at(here, u.healthCheck !== undefined), here,
        `node ${address} is also listed by upstream ${JSON.stringify(other.name)} ${theirs}; a node has one health check, ` +
        'so every upstream listing it must have the same healthCheck, or none',
        { text: other.healthCheck === undefined ? 'listed there at' : 'its healthCheck at', location: ctx.at(there, other.healthCheck !== undefined) })
    })
  }
}
