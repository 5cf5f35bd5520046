// Closing plugin instances for good, when the gateway stops (or a start-up
// fails after compiling): every instance of the given snapshots once, however
// many snapshots or routes hold it, all at the same time, waiting for them at
// most `timeoutMs`: a close() that hangs is logged and left behind, so it
// never holds the exit. A close() that throws or rejects is logged.
import type { Logger } from 'pino'
import type { PluginInstance } from '../../plugins/types.js'
import type { PluginChain, Snapshot } from './types.js'

interface Held {
  readonly instance: PluginInstance
  readonly name: string
  /** The route of a route instance; undefined for a global one. */
  readonly route: string | undefined
}

/** The pending close()s named in the log line, at most (10,000 routes could hang at once). */
const NAMED_MAX = 20

/** Each instance of `snapshots` once, the global ones of a snapshot before its routes'. */
function instancesOf (snapshots: Iterable<Snapshot>): Held[] {
  const seen = new Map<PluginInstance, Held>()
  const add = (chain: PluginChain, route: string | undefined): void => {
    for (const p of chain.plugins) if (!seen.has(p.instance)) seen.set(p.instance, { instance: p.instance, name: p.name, route })
  }
  for (const snap of snapshots) {
    add(snap.global, undefined)
    for (const r of snap.routes.values()) add(r, r.id)
  }
  return [...seen.values()]
}

function describe (h: Held): Record<string, string> {
  return h.route === undefined ? { plugin: h.name, scope: 'global' } : { plugin: h.name, route: h.route }
}

export async function closePlugins (snapshots: Iterable<Snapshot>, timeoutMs: number, logger: Logger): Promise<void> {
  const pending = new Set<Held>()
  const closing: Array<Promise<void>> = []
  for (const h of instancesOf(snapshots)) {
    if (h.instance.close === undefined) continue
    pending.add(h)
    closing.push((async () => {
      try {
        await h.instance.close!()
      } catch (err) {
        logger.error({ err, ...describe(h) }, 'plugin close() failed')
      } finally {
        pending.delete(h)
      }
    })())
  }
  if (closing.length === 0) return
  let timer: NodeJS.Timeout | undefined
  const timedOut = await Promise.race([
    Promise.all(closing).then(() => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), timeoutMs) })
  ])
  clearTimeout(timer)
  if (timedOut) {
    logger.warn({ count: pending.size, pending: [...pending].slice(0, NAMED_MAX).map(describe) },
      `plugin close() still running after ${timeoutMs} ms: stopping without it`)
  }
}
