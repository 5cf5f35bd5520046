// What /admin/match adds from the plugins: each instance's explain() of the
// request asked about (by plugin name), and the upstream one of them would
// send it to. An explain() that throws spoils its own entry only.
import type { MatchView } from '../../plugins/types.js'
import type { CompiledPlugin } from '../snapshot/types.js'

/** The explanations of `plugins` (in run order) for `view`, by plugin name; plugins without explain() or with nothing to say are left out. */
export function explainAll (plugins: readonly CompiledPlugin[], view: MatchView): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {}
  for (const p of plugins) {
    const fn = p.instance.explain
    if (fn === undefined) continue
    let e: unknown
    try {
      e = fn.call(p.instance, view)
    } catch (err) {
      e = { error: `explain() threw: ${err instanceof Error ? err.message : String(err)}` }
    }
    if (e === undefined) continue
    out[p.name] = typeof e === 'object' && e !== null && !Array.isArray(e) ? e as Record<string, unknown> : { error: 'explain() must return a plain object' }
  }
  return out
}

/**
 * The upstream the last plugin (in run order) that names one would send the
 * request to, as access() would set ctx.upstreamName: null when it chooses per
 * request (at random), undefined when no plugin says.
 */
export function chosenUpstream (explain: Record<string, Record<string, unknown>>): string | null | undefined {
  let upstream: string | null | undefined
  for (const e of Object.values(explain)) if (typeof e.upstream === 'string' || e.upstream === null) upstream = e.upstream
  return upstream
}
