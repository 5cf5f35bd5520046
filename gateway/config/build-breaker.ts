// The checks of a breaker's and a fallback's options that a schema cannot
// express, and their model form: maxOpenTime >= openTime, slowCallRatio and
// slowCallThreshold given together, a breaker that can open at all; fallback
// headers that the gateway itself frames (Content-Length, hop-by-hop ones)
// refused, and no body on a status that cannot have one.
import type { CheckContext } from './issue-sink.js'
import { defineValue, isObj, type Obj } from './plain-object.js'
import type { BreakerConfig, FallbackConfig, NodeBreakerConfig } from './types.js'
import type { PathSegment } from './yaml-source.js'

/** Headers a fallback may not set: the gateway frames the response itself. */
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection'])

/** `b` at `path` (schema-valid where `bad` does not say otherwise); returns its model form when it is entirely valid. */
export function buildBreaker (path: PathSegment[], b: unknown, bad: Set<string>, { issues, at }: CheckContext): BreakerConfig | undefined {
  if (!isObj(b)) return undefined
  const p = path.join('/')
  const before = issues.count
  const ok = (k: string): boolean => !bad.has(`${p}/${k}`)
  if (ok('openTime') && ok('maxOpenTime') && (b.maxOpenTime as number) < (b.openTime as number)) {
    issues.add(at([...path, 'maxOpenTime']), [...path, 'maxOpenTime'], `must not be shorter than openTime (${String(b.openTime)}ms)`)
  }
  if (ok('slowCallRatio') && ok('slowCallThreshold')) {
    if (b.slowCallRatio !== undefined && b.slowCallThreshold === undefined) {
      issues.add(at([...path, 'slowCallRatio']), [...path, 'slowCallRatio'],
        'needs slowCallThreshold (how long a call may wait for its response headers before it counts as slow)')
    }
    if (b.slowCallThreshold !== undefined && b.slowCallRatio === undefined) {
      issues.add(at([...path, 'slowCallThreshold']), [...path, 'slowCallThreshold'], 'has no effect without slowCallRatio')
    }
  }
  if (ok('consecutiveFailures') && b.consecutiveFailures === 0 && b.errorRatio === undefined && b.slowCallRatio === undefined) {
    issues.add(at(path), path, 'this breaker can never open: set consecutiveFailures above 0, errorRatio or slowCallRatio')
  }
  if (issues.count > before || bad.has(p)) return undefined
  const out: BreakerConfig = {
    consecutiveFailures: b.consecutiveFailures as number,
    window: b.window as number,
    minCalls: b.minCalls as number,
    failureStatuses: [...(b.failureStatuses as number[])].sort((x, y) => x - y),
    openTime: b.openTime as number,
    maxOpenTime: b.maxOpenTime as number,
    halfOpenRequests: b.halfOpenRequests as number
  }
  if (b.errorRatio !== undefined) out.errorRatio = b.errorRatio as number
  if (b.slowCallRatio !== undefined) {
    out.slowCallRatio = b.slowCallRatio as number
    out.slowCallThreshold = b.slowCallThreshold as number
  }
  if (b.maxEjectionPercent !== undefined) (out as NodeBreakerConfig).maxEjectionPercent = b.maxEjectionPercent as number
  return out
}

/** `f` at `path`; returns its model form when it is entirely valid. */
export function buildFallback (path: PathSegment[], f: unknown, bad: Set<string>, { issues, at }: CheckContext): FallbackConfig | undefined {
  if (!isObj(f)) return undefined
  const p = path.join('/')
  const before = issues.count
  const headersIn = f.headers as Record<string, string>
  const headers: Record<string, string> = {}
  if (isObj(headersIn) && !bad.has(`${p}/headers`)) {
    for (const name of Object.keys(headersIn).sort()) {
      const lower = name.toLowerCase()
      const hp = [...path, 'headers', name]
      if (FRAMING_HEADERS.has(lower)) {
        issues.add(at(hp, true), hp, `header ${JSON.stringify(name)} cannot be set: the gateway frames the response itself`)
      } else if (Object.prototype.hasOwnProperty.call(headers, lower)) {
        issues.add(at(hp, true), hp, `header ${JSON.stringify(name)} is given twice (header names are case-insensitive)`)
      } else if (/[\r\n\0]/.test(headersIn[name]!)) {
        issues.add(at(hp), hp, 'must not contain CR, LF or NUL')
      } else {
        defineValue(headers, lower, headersIn[name])
      }
    }
  }
  const status = f.status as number
  if (!bad.has(`${p}/status`) && !bad.has(`${p}/body`) && (status === 204 || status === 304) && f.body !== '') {
    issues.add(at([...path, 'body']), [...path, 'body'], `a ${status} response has no body`)
  }
  if (issues.count > before || bad.has(p)) return undefined
  return { status, headers, body: f.body as string }
}

/** Both of a route's keys (absent when not configured). */
export function buildRouteResilience (path: PathSegment[], r: Obj, bad: Set<string>, ctx: CheckContext): { breaker?: BreakerConfig; fallback?: FallbackConfig } {
  const out: { breaker?: BreakerConfig; fallback?: FallbackConfig } = {}
  const breaker = buildBreaker([...path, 'breaker'], r.breaker, bad, ctx)
  if (breaker !== undefined) out.breaker = breaker
  const fallback = buildFallback([...path, 'fallback'], r.fallback, bad, ctx)
  if (fallback !== undefined) out.fallback = fallback
  return out
}
