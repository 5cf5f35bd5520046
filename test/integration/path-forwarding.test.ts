// Byte-exact path forwarding: routes match the canonical path, but the upstream
// is sent the client's own bytes whenever they mean the same (they differ at most
// in the hex case of percent-escapes), through every kind of rewrite; otherwise
// the canonical form. /admin/match reports exactly what the upstream is sent.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { rawRequest } from '../helpers/raw-http.js'

let up: Upstream
let gw: TestGateway

before(async () => {
  up = await startUpstream({ name: 'rec' })
  gw = await startTestGateway({
    upstreams: {
      plain: { nodes: [{ url: up.url }] },
      based: { nodes: [{ url: up.url + '/base' }] }
    },
    routes: [
      { id: 'plain', match: { paths: ['/p/*'] }, upstream: 'plain' },
      { id: 'strip', match: { paths: ['/s/*'] }, upstream: 'based', rewrite: { stripPrefix: true } },
      { id: 'prefix', match: { paths: ['/old/*'] }, upstream: 'plain', rewrite: { prefix: '/new' } },
      { id: 'template', match: { paths: ['/u/:id/x', '/users/:id'] }, upstream: 'plain', rewrite: { path: '/v2/users/:id' } },
      { id: 'escaped', match: { paths: ['/caf%C3%A9/*'] }, upstream: 'plain', rewrite: { stripPrefix: true } },
      { id: 'tilde', match: { paths: ['/%7Euser/*'] }, upstream: 'plain', rewrite: { stripPrefix: true } }
    ]
  })
})

after(async () => {
  await gw.stop()
  await up.close()
})

/** The target sent on a raw socket; the route; the exact request target the upstream must receive. */
const table: Array<[string, string, string]> = [
  // Only hex case differs from the canonical form: the client's bytes, rewritten.
  ['/p/na%c3%afve', 'plain', '/p/na%c3%afve'],
  ['/p/na%c3%afve?sig=%aB&x=%c3', 'plain', '/p/na%c3%afve?sig=%aB&x=%c3'],
  ['/p/%e2%82%ac/%3a%40', 'plain', '/p/%e2%82%ac/%3a%40'],
  ['/s/na%c3%afve', 'strip', '/base/na%c3%afve'],
  ['/old/na%c3%afve/x%2a', 'prefix', '/new/na%c3%afve/x%2a'],
  ['/u/na%c3%afve/x', 'template', '/v2/users/na%c3%afve'],
  ['/users/%c3%a9%C3%a9', 'template', '/v2/users/%c3%a9%C3%a9'],
  // The prefix was matched in canonical form (`/caf%C3%A9`); it is cut from the client's bytes.
  ['/caf%c3%a9/x%3a', 'escaped', '/x%3a'],
  ['/caf%C3%A9/x%3a', 'escaped', '/x%3a'],
  // Normalisation changed more than hex case: the canonical form, rewritten.
  ['/%7euser/%c3%a9', 'tilde', '/%C3%A9'],
  ['/s/a/../na%c3%afve', 'strip', '/base/na%C3%AFve'],
  ['/s//na%c3%afve', 'strip', '/base/na%C3%AFve'],
  ['/u/%c3%a9/./x', 'template', '/v2/users/%C3%A9'],
  ['/old/%41%c3%a9', 'prefix', '/new/A%C3%A9'],
  ['/p/x%2fna%c3%afve', 'plain', '/p/x/na%C3%AFve']
]

test('the upstream receives the client\'s own path bytes when only the hex case of escapes differs, through rewrites', async () => {
  for (const [target, route, expected] of table) {
    const seen = up.requests.length
    const r = await rawRequest(gw.gw.port, `GET ${target} HTTP/1.1\r\nHost: gw\r\n\r\n`)
    assert.equal(r.status, 200, `${target}: ${r.raw.slice(0, 300)}`)
    assert.equal(up.requests.length, seen + 1, `${target}: one request upstream`)
    assert.equal(up.requests[seen]!.url, expected, `${target} (route ${route}): the exact bytes upstream`)
  }
})

test('/admin/match reports the path the proxy sends', async () => {
  for (const [target, route, expected] of table) {
    const res = await request(`${gw.adminUrl}/admin/match?path=${encodeURIComponent(target)}`)
    const body = await res.body.json() as { route: string; forwardedPath: string }
    assert.equal(res.statusCode, 200, target)
    assert.equal(body.route, route, target)
    // The node's base path (`/base`) is the upstream's, not the route's: /admin/match leaves it out.
    assert.equal(body.forwardedPath, route === 'strip' ? expected.slice('/base'.length) : expected, `${target}: forwardedPath`)
  }
})
