// The `redis:` section: the rules its schema cannot express (exactly one of
// url / sentinels / cluster, `name` with sentinels only, credentials and the
// database given once, reconnect.min <= max), and its model (the URL split
// into its parts). No message repeats a URL or password.
import type { CheckContext } from './issue-sink.js'
import { isObj, type Obj } from './plain-object.js'
import type { RedisConfig, RedisEndpoint } from './types.js'

const FORMS = ['url', 'sentinels', 'cluster'] as const

/** The model of `root.redis` (undefined when absent or when an issue was found). */
export function buildRedis (root: Obj, bad: Set<string>, ctx: CheckContext): RedisConfig | undefined {
  const r = root.redis
  if (!isObj(r)) return undefined
  const { issues, at } = ctx
  const before = issues.count
  const add = (key: string, message: string): void => issues.add(at(['redis', key], true), ['redis', key], message)

  const forms = FORMS.filter((k) => r[k] !== undefined)
  if (forms.length === 0) {
    issues.add(at(['redis'], true), ['redis'],
      'give the Redis to use: redis.url, redis.sentinels (with redis.name) or redis.cluster')
  }
  for (const extra of forms.slice(1)) {
    add(extra, `redis.${extra} cannot be combined with redis.${forms[0]!}: give exactly one of url, sentinels or cluster`)
  }
  if (forms.includes('sentinels') && r.name === undefined) {
    add('sentinels', 'sentinels need redis.name: the name the sentinels know the master by')
  }
  if (!forms.includes('sentinels') && r.name !== undefined) add('name', 'redis.name (the sentinel master name) is only used with redis.sentinels')

  const url = typeof r.url === 'string' && !bad.has('redis/url') ? new URL(r.url) : undefined
  if (url !== undefined) {
    if (url.username !== '' && r.username !== undefined) add('username', 'the user name is also in redis.url: give it once')
    if (url.password !== '' && r.password !== undefined) add('password', 'the password is also in redis.url: give it once')
    if (url.pathname.length > 1 && r.db !== undefined) add('db', 'the database is also in redis.url: give it once')
  }
  if (forms.includes('cluster') && r.db !== undefined && r.db !== 0) add('db', 'Redis Cluster has only database 0')

  const reconnect = r.reconnect as RedisConfig['reconnect']
  if (isObj(reconnect) && !bad.has('redis/reconnect') && reconnect.min > reconnect.max) {
    issues.add(at(['redis', 'reconnect', 'min']), ['redis', 'reconnect', 'min'],
      `must not be longer than redis.reconnect.max (${reconnect.max}ms)`)
  }
  if (issues.count > before || bad.has('redis')) return undefined

  const endpoints = (list: unknown): RedisEndpoint[] => (list as RedisEndpoint[]).map((e) => ({ host: e.host, port: e.port }))
  const out: RedisConfig = {
    mode: forms[0] === 'url' ? 'standalone' : forms[0] === 'sentinels' ? 'sentinel' : 'cluster',
    endpoints: url !== undefined ? [{ host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? 6379 : Number(url.port) }] : endpoints(r[forms[0]!]),
    tls: url?.protocol === 'rediss:',
    db: url !== undefined && url.pathname.length > 1 ? Number(url.pathname.slice(1)) : (r.db as number | undefined) ?? 0,
    keyPrefix: r.keyPrefix as string,
    commandTimeout: r.commandTimeout as number,
    connectTimeout: r.connectTimeout as number,
    reconnect: { min: reconnect.min, max: reconnect.max }
  }
  const username = url !== undefined && url.username !== '' ? decodeURIComponent(url.username) : r.username as string | undefined
  const password = url !== undefined && url.password !== '' ? decodeURIComponent(url.password) : r.password as string | undefined
  if (typeof r.name === 'string') out.name = r.name
  if (username !== undefined) out.username = username
  if (password !== undefined) out.password = password
  return out
}
