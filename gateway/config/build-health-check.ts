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
 * A node has one health check (one prober per address), so the upstreams that
 * give a node address a healthCheck must give it the same one. An upstream
 * without a healthCheck has no say: the check another upstream gives the node
 * applies (its verdict, like a breaker's, is the node's, in every upstream
 * listing it). Each upstream (in the order written) whose healthCheck differs
 * from an earlier one for a shared address is reported once, at its
 * healthCheck, naming the earlier one.
 */
export function checkSharedHealthChecks (upstreams: readonly UpstreamConfig[], ctx: CheckContext): void {
  const first = new Map<string, { upstream: UpstreamConfig; key: string }>()
  for (const u of upstreams) {
    if (u.healthCheck === undefined) continue
    const key = JSON.stringify(u.healthCheck)
    let reported = false
    for (const n of u.nodes) {
      const address = nodeAddress(n.url)
      const seen = first.get(address)
      if (seen === undefined) {
        first.set(address, { upstream: u, key })
        continue
      }
      if (seen.key === key || reported) continue
      reported = true
      const here = ['upstreams', u.name, 'healthCheck']
      ctx.issues.add(ctx.at(here, true), here,
        `node ${address} is also checked by upstream ${JSON.stringify(seen.upstream.name)} with a different healthCheck; ` +
        'a node has one health check, so the upstreams that give it one must give it the same',
        { text: 'its healthCheck at', location: ctx.at(['upstreams', seen.upstream.name, 'healthCheck'], true) })
    }
  }
}
