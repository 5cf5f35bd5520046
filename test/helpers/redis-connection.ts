// The gateway's own Redis connection (RedisService) to a test server, ready to
// use: for unit tests of what plugins build on env.redis.
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { RedisService } from '../../gateway/services/redis.js'
import type { RedisServer } from './redis-server.js'
import { until } from './until.js'

const silent = pino({ level: 'silent' }, new Writable({ write (_c, _e, cb) { cb() } }))

export async function redisConnection (redis: RedisServer, opts: { keyPrefix: string, commandTimeout?: number, logger?: Logger }): Promise<RedisService> {
  const conn = new RedisService({
    mode: 'standalone', endpoints: [{ host: '127.0.0.1', port: redis.port }], tls: false, db: 0, keyPrefix: opts.keyPrefix,
    commandTimeout: opts.commandTimeout ?? 200, connectTimeout: 1000, reconnect: { min: 20, max: 100 }
  }, 'k', { logger: opts.logger ?? silent })
  await until('the Redis connection is ready', () => conn.state === 'ready')
  return conn
}
