import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { freePort } from '../helpers/free-port.js'
import { startRedisServer } from '../helpers/redis-server.js'
import { startUpstream } from '../helpers/upstream.js'
import { rawRequest } from '../helpers/raw-http.js'
import { writeConfig } from '../helpers/yaml-config.js'

test('freePort returns a usable port', async () => {
  const port = await freePort()
  assert.ok(port > 0 && port < 65536)
})

test('rawRequest reads a Content-Length answer from the echo upstream', async (t) => {
  const up = await startUpstream({ name: 'u1' })
  t.after(() => up.close())
  const res = await rawRequest(up.port, 'POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello')
  assert.equal(res.status, 200)
  assert.equal(res.closed, false)
  const body = JSON.parse(res.body) as Record<string, unknown>
  assert.equal(body.upstream, 'u1')
  assert.equal(body.method, 'POST')
  assert.equal(body.url, '/x?y=1')
  assert.equal(body.bodyLength, 5)
  assert.equal(body.bodySha256, createHash('sha256').update('hello').digest('hex'))
  assert.equal(up.requests.length, 1)
  assert.equal(up.requests[0]!.body.toString(), 'hello')
  assert.equal(up.maxInflight, 1)
  assert.equal(up.inflight, 0)
})

test('rawRequest decodes chunked answers and sees Connection: close', async (t) => {
  const up = await startUpstream({
    handler: (req, res) => {
      req.resume()
      req.on('end', () => {
        res.writeHead(201, { 'x-a': '1' })
        res.write('ab')
        res.end('cd')
      })
    },
  })
  t.after(() => up.close())
  const res = await rawRequest(up.port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
  assert.equal(res.status, 201)
  assert.equal(res.headers['transfer-encoding'], 'chunked')
  assert.equal(res.headers['x-a'], '1')
  assert.equal(res.body, 'abcd')
  assert.equal(res.closed, true)
  assert.equal(up.requests[0]!.method, 'GET')
})

test('rawRequest reports a 400 for garbage and the upstream records a custom handler body', async (t) => {
  const up = await startUpstream({
    handler: (req, res) => {
      req.setEncoding('utf8')
      let n = 0
      req.on('data', (s: string) => { n += s.length })
      req.on('end', () => res.end(String(n)))
    },
  })
  t.after(() => up.close())
  const bad = await rawRequest(up.port, 'NOT HTTP AT ALL\r\n\r\n')
  assert.equal(bad.status, 400)
  assert.equal(bad.closed, true)
  const ok = await rawRequest(up.port, 'PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n')
  assert.equal(ok.body, '3')
  assert.equal(up.requests.at(-1)!.body.toString(), 'abc')
})

test('rawRequest gives up at the timeout with what it has', async (t) => {
  const up = await startUpstream({ handler: () => { /* never answers */ } })
  t.after(() => up.close())
  const res = await rawRequest(up.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', { timeoutMs: 200 })
  assert.equal(res.status, undefined)
  assert.equal(res.raw, '')
  assert.equal(res.closed, false)
  assert.equal(up.inflight, 1)
})

test('writeConfig writes YAML that parses back', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-helpers-'))
  try {
    const file = writeConfig(dir, { admin: { port: 1 }, routes: [{ id: 'a' }] })
    assert.deepEqual(parse(fs.readFileSync(file, 'utf8')), { admin: { port: 1 }, routes: [{ id: 'a' }] })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('startRedisServer: says how to install redis-server when it is not on the PATH', async () => {
  const saved = process.env.PATH
  process.env.PATH = path.join(os.tmpdir(), 'no-such-dir')
  try {
    await assert.rejects(startRedisServer(), { message: 'redis-server not found: install it (Debian: apt-get install -y redis-server)' })
  } finally {
    process.env.PATH = saved
  }
})

test('startRedisServer: answers PING on its port; restart() keeps the port; stop() ends it', async () => {
  const r = await startRedisServer()
  const pid = r.pid
  assert.equal(r.url, `redis://127.0.0.1:${r.port}`)
  await r.restart()
  assert.notEqual(r.pid, pid)
  assert.equal(await redisPing(r.port), '+PONG')
  await r.stop()
  await assert.rejects(redisPing(r.port), /ECONNREFUSED/)
})

function redisPing (port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port }, () => sock.write('PING\r\n'))
    sock.on('error', reject)
    sock.once('data', (d) => { sock.destroy(); resolve(d.toString().trim()) })
  })
}
