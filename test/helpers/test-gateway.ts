// An in-process gateway on ephemeral loopback ports, from a config object
// written as YAML to its own temp dir. Logs are captured, not printed.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { Gateway } from '../../gateway/gateway.js'
import type { PluginRegistry } from '../../plugins/registry.js'
import { writeConfig } from './yaml-config.js'

export interface TestGateway {
  gw: Gateway
  dir: string
  configFile: string
  /** http://127.0.0.1:PORT of the data plane. */
  url: string
  adminUrl: string
  /** Parsed JSON log lines. */
  logs: Array<Record<string, unknown>>
  /** Rewrites the main config file (triggers the watcher when enabled). */
  rewrite(config: object): void
  stop(): Promise<void>
}

export interface TestGatewayOptions {
  watch?: boolean
  /** Extra files to write next to the main config: relative name -> content. */
  files?: Record<string, string>
  /** Plugins beyond the built-in ones (see loadPluginRegistry). */
  plugins?: PluginRegistry
}

/** Fills listen/admin with ephemeral loopback ports unless the config sets them. */
function withTestDefaults (config: Record<string, unknown>): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    accessLog: { enabled: true },
    ...config
  }
}

export async function startTestGateway (config: Record<string, unknown>, opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-test-'))
  for (const [name, content] of Object.entries(opts.files ?? {})) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), content)
  }
  const configFile = writeConfig(dir, withTestDefaults(config))
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      cb()
    }
  })
  const gw = await Gateway.start({ configFile, logger: pino({ level: 'debug' }, sink), watch: opts.watch ?? false, plugins: opts.plugins })
  return {
    gw,
    dir,
    configFile,
    url: `http://127.0.0.1:${gw.port}`,
    adminUrl: `http://127.0.0.1:${gw.adminPort}`,
    logs,
    rewrite (next) {
      writeConfig(dir, withTestDefaults(next as Record<string, unknown>))
    },
    async stop () {
      await gw.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
