// `gateway cutover ROUTE --status`: asks the running gateway's admin API
// (GET /admin/plugins?route=ROUTE, with the config's admin host, port and
// token) what the route's traffic-split instance says (status()): weights,
// active colour, ramp position, rollback figures. Shown as YAML, whatever the
// plugin puts in it, with the weights summed up on the first line.
import { stringify } from 'yaml'
import { SPLIT_PLUGIN } from './split-location.js'

export interface AdminEndpoint { host: string; port: number; token?: string | undefined }

/** How long the admin API has to answer. */
const TIMEOUT_MS = 5000

/** The text to print, or `{ error }` (one line). */
export async function splitStatus (admin: AdminEndpoint, route: string): Promise<{ text: string } | { error: string }> {
  const base = `http://${hostOf(admin.host)}:${admin.port}`
  const headers: Record<string, string> = admin.token === undefined ? {} : { authorization: `Bearer ${admin.token}` }
  let res: Response
  let body: string
  try {
    res = await fetch(`${base}/admin/plugins?route=${encodeURIComponent(route)}`, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) })
    body = await res.text()
  } catch (err) {
    return { error: `the gateway's admin API at ${base} does not answer (${reasonOf(err)}): is the gateway running with this config?` }
  }
  if (res.status !== 200) return { error: `the gateway's admin API at ${base} answered ${res.status}: ${messageOf(body)}` }
  let entries: unknown
  try {
    entries = JSON.parse(body)
  } catch {
    return { error: `the gateway's admin API at ${base} answered something that is not JSON` }
  }
  const entry = Array.isArray(entries)
    ? (entries as Array<Record<string, unknown>>).find((e) => e?.name === SPLIT_PLUGIN)
    : undefined
  if (entry === undefined) return { error: `route "${route}" has no ${SPLIT_PLUGIN} plugin in the running gateway's config` }
  if (typeof entry.error === 'string') return { error: `route "${route}": the ${SPLIT_PLUGIN} status failed in the gateway: ${entry.error}` }
  const status = entry.status as Record<string, unknown> | undefined
  if (status === undefined) return { text: `route ${route}: ${SPLIT_PLUGIN} (no status)\n` }
  const lines = [`route ${route}: ${SPLIT_PLUGIN}, as the gateway at ${base} runs it`]
  const weights = weightsLine(status.weights)
  if (weights !== undefined) lines.push(`  traffic: ${weights}`)
  lines.push(...stringify(status).trimEnd().split('\n').map((l) => '  ' + l))
  return { text: lines.join('\n') + '\n' }
}

/** `blue 90 % / green 10 %` for a map of numbers, else undefined. */
function weightsLine (weights: unknown): string | undefined {
  if (typeof weights !== 'object' || weights === null || Array.isArray(weights)) return undefined
  const parts = Object.entries(weights as Record<string, unknown>)
  if (parts.length === 0 || !parts.every(([, v]) => typeof v === 'number')) return undefined
  return parts.map(([k, v]) => `${k} ${String(v)} %`).join(' / ')
}

/** Where to connect for a listening address (any address: the loopback). */
function hostOf (host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::') return '[::1]'
  return host.includes(':') ? `[${host}]` : host
}

function reasonOf (err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } }
  if (e.name === 'TimeoutError') return `no answer in ${TIMEOUT_MS / 1000} s`
  return e.cause?.code ?? e.cause?.message ?? e.message
}

/** The message of the admin API's error envelope, else the start of the body. */
function messageOf (body: string): string {
  try {
    const j = JSON.parse(body) as { error?: { message?: unknown }; message?: unknown }
    const m = j.error?.message ?? j.message
    if (typeof m === 'string') return m
  } catch {}
  return body.slice(0, 200)
}
