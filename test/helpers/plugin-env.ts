// A PluginEnv for testing what a plugin builds on it, without a gateway: an
// injected clock, its own metrics registry (a gateway of its own), optional
// Redis connection, and the log lines captured (parsed JSON).
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import type { PluginEnv, RedisConnection } from '../../plugins/types.js'

export interface TestPluginEnv extends PluginEnv {
  /** The clock env.now() reads (ms); move it to move time. */
  clock: { now: number }
  logs: Array<Record<string, unknown>>
}

export function pluginEnv (opts: { routeId?: string; nodeId?: string; redis?: RedisConnection; now?: number; metrics?: Registry } = {}): TestPluginEnv {
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      cb()
    }
  })
  const clock = { now: opts.now ?? Date.parse('2026-12-01T10:00:00Z') }
  return {
    clock,
    logs,
    // Bound like the gateway binds a route instance's logger (build-snapshot.ts pluginEnv).
    logger: pino({ level: 'debug' }, sink).child({ plugin: 'test', route: opts.routeId ?? 'payments' }),
    scope: 'route',
    routeId: opts.routeId ?? 'payments',
    now: () => clock.now,
    redis: opts.redis,
    metrics: opts.metrics ?? new Registry(),
    nodeId: opts.nodeId ?? 'node-a',
    groupMetrics: () => undefined
  }
}
