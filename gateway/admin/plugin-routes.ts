// GET /admin/plugins and GET /admin/limits: the plugin instances in force and
// their live state (status()), and among them the limits, grouped the way an
// SRE reads them: where the counters live (node / cluster) x where the limit
// applies (global / route). Both take `name=` (one plugin) and `route=` (one
// route's own instances). The answers are serialised entry by entry, so one
// bad status() spoils its entry only, never the listing.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Gateway } from '../gateway.js'
import { AdminErrors, sendAdminError } from './admin-errors.js'
import { eachStatus, jsonOf, limitScopeOf, type InstanceStatus, type PluginFilter } from './plugin-status.js'

const QUERY = ['name', 'route']

/** Failures logged one by one per admin request; past that, one line counts the rest. */
const LOGGED_FAILURES = 10

/** The filter of the query, or undefined once an error answer is sent. */
function filterOf (gw: Gateway, request: FastifyRequest, reply: FastifyReply): PluginFilter | undefined {
  const q = request.query as Record<string, string | string[] | undefined>
  for (const [k, v] of Object.entries(q)) {
    if (!QUERY.includes(k)) {
      void sendAdminError(reply, AdminErrors.BAD_REQUEST, `unknown query parameter "${k}" (known: ${QUERY.join(', ')})`)
      return undefined
    }
    if (typeof v !== 'string') {
      void sendAdminError(reply, AdminErrors.BAD_REQUEST, `query parameter "${k}" is given more than once`)
      return undefined
    }
  }
  const { name, route } = q as { name?: string; route?: string }
  if (name !== undefined && !gw.plugins.plugins.has(name)) {
    void sendAdminError(reply, AdminErrors.BAD_REQUEST, `unknown plugin "${name}" (known: ${[...gw.plugins.plugins.keys()].join(', ')})`)
    return undefined
  }
  if (route !== undefined && !gw.current.routes.has(route)) {
    void sendAdminError(reply, AdminErrors.NOT_FOUND, `no route "${route}" in config version ${gw.current.version}`)
    return undefined
  }
  return { name, route }
}

/** Logs the failed status() of one admin request: each of the first few, then how many more. */
class FailureLog {
  #count = 0
  constructor (readonly gw: Gateway, readonly url: string) {}

  add (s: InstanceStatus, error: string): void {
    if (++this.#count <= LOGGED_FAILURES) this.gw.logger.warn({ plugin: s.name, scope: s.scope, route: s.route, url: this.url }, `plugin ${error}`)
  }

  done (): void {
    if (this.#count > LOGGED_FAILURES) {
      this.gw.logger.warn({ failures: this.#count, url: this.url }, `plugin status(): ${this.#count - LOGGED_FAILURES} more failures in this admin request`)
    }
  }
}

/** `{"scope":…,"route":…,"name":…` of an entry: the JSON object, still open. */
function whereJson (s: InstanceStatus): string {
  return s.route === undefined
    ? `{"scope":"global","name":${JSON.stringify(s.name)}`
    : `{"scope":"route","route":${JSON.stringify(s.route)},"name":${JSON.stringify(s.name)}`
}

const NOT_JSON = 'status() returned something JSON cannot show'

/** The entry of GET /admin/plugins. */
function pluginEntry (s: InstanceStatus, failures: FailureLog): string {
  let error = s.error
  if (error === undefined) {
    if (s.status === undefined) return whereJson(s) + '}'
    const json = jsonOf(s.status)
    if (json !== undefined) return whereJson(s) + ',"status":' + json + '}'
    error = NOT_JSON
  }
  failures.add(s, error)
  return whereJson(s) + ',"error":' + JSON.stringify(error) + '}'
}

function sendJson (reply: FastifyReply, body: string): FastifyReply {
  return reply.header('content-type', 'application/json; charset=utf-8').send(body)
}

export function registerPluginRoutes (app: FastifyInstance, gw: Gateway): void {
  app.get('/admin/plugins', async (request, reply) => {
    const filter = filterOf(gw, request, reply)
    if (filter === undefined) return reply
    const failures = new FailureLog(gw, request.url)
    const parts: string[] = []
    await eachStatus(gw.current, filter, (s) => { parts.push(pluginEntry(s, failures)) })
    failures.done()
    return sendJson(reply, '[' + parts.join(',') + ']')
  })

  app.get('/admin/limits', async (request, reply) => {
    const filter = filterOf(gw, request, reply)
    if (filter === undefined) return reply
    const snap = gw.current
    const failures = new FailureLog(gw, request.url)
    const groups = { node: { global: [] as string[], route: [] as string[] }, cluster: { global: [] as string[], route: [] as string[] } }
    const errors: string[] = []
    const fail = (s: InstanceStatus, error: string): void => {
      failures.add(s, error)
      errors.push(whereJson(s) + ',"error":' + JSON.stringify(error) + '}')
    }
    await eachStatus(snap, filter, (s) => {
      if (s.error !== undefined) return fail(s, s.error)
      if (s.status === undefined) return
      const limit = limitScopeOf(s.status)
      if (limit === undefined) return
      if ('error' in limit) return fail(s, limit.error)
      // The grouping says scope and where; the route is the core's. `plugin` is the plugin,
      // `name` the limit's own name (its `name` option: the `limit` label of its metrics).
      const { kind: _kind, scope: _scope, name: own, route: _route, ...rest } = s.status
      const name = typeof own === 'string' && own !== '' ? own : s.name
      const json = jsonOf(s.route === undefined ? { plugin: s.name, name, ...rest } : { route: s.route, plugin: s.name, name, ...rest })
      if (json === undefined) fail(s, NOT_JSON)
      else groups[limit.scope][s.scope].push(json)
    })
    failures.done()
    const list = (a: string[]): string => '[' + a.join(',') + ']'
    return sendJson(reply, `{"version":${snap.version},` +
      `"node":{"global":${list(groups.node.global)},"route":${list(groups.node.route)}},` +
      `"cluster":{"global":${list(groups.cluster.global)},"route":${list(groups.cluster.route)}},` +
      `"errors":${list(errors)}}`)
  })
}
