// A ramp's rollback decision shared by the gateways through Redis (env.redis).
// The gateway that decides writes its decision, with its figures, under one
// key per ramp (SET NX, expiring after DECISION_TTL_S): the first decision
// written is the fleet's. Every gateway reads that key every POLL_MS (an
// unref'd timer) and rolls back when it appears. Commands go through the
// shared connection, so each waits at most its commandTimeout, and none is
// sent while the connection is not ready: then each gateway judges its own
// traffic (it always does), and a decision it could not write is written
// by the first poll that finds Redis back. Nothing here throws or leaves a
// promise rejected; the guard learns the results through its hooks.
import { createHash } from 'node:crypto'
import type { RedisConnection } from '../types.js'

export const POLL_MS = 500
export const DECISION_TTL_S = 86_400

// KEYS[1] the decision; ARGV[1] this gateway's record, ARGV[2] the TTL (s). Nil: written; else the record already there.
const PUBLISH = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])`

/** The Redis key of a ramp's decision: keyPrefix + 'split:rollback:' + a digest of the ramp key. */
export function decisionKey (keyPrefix: string, rampKey: string): string {
  return `${keyPrefix}split:rollback:${createHash('sha256').update(rampKey).digest('hex').slice(0, 32)}`
}

/** The hooks do not throw (the guard catches its own errors); this only keeps a rejection from going unhandled. */
function ignore (): void {}

export type PublishResult =
  | { readonly kind: 'written' }
  /** Another decision was there first (`record`). */
  | { readonly kind: 'taken'; readonly record: string }
  | { readonly kind: 'failed'; readonly why: string }

export interface FleetHooks {
  /** This gateway's decision while Redis does not have it yet (written by the next poll), else undefined. */
  unpublished(): string | undefined
  /** The fleet knows the decision (written, or found): polling stops. */
  settled(): boolean
  /** The record found under the key (another gateway's decision, or an earlier one of this gateway). */
  found(record: string): void
  /** A decision written later, by a poll (not by publish()). */
  published(result: PublishResult): void
}

export class FleetChannel {
  readonly key: string
  #failing: string | undefined
  #busy = false
  #closed = false
  readonly #redis: RedisConnection
  readonly #hooks: FleetHooks
  readonly #timer: NodeJS.Timeout
  readonly #unsubscribe: () => void

  constructor (redis: RedisConnection, rampKey: string, hooks: FleetHooks) {
    this.#redis = redis
    this.#hooks = hooks
    this.key = decisionKey(redis.keyPrefix, rampKey)
    this.#timer = setInterval(() => this.poll(), POLL_MS)
    this.#timer.unref()
    this.#unsubscribe = redis.onStateChange((state) => {
      if (state !== 'ready') return
      // A new connection starts clean; look at once (a decision may be waiting, or waiting to be written).
      this.#failing = undefined
      this.poll()
    })
    this.poll()
  }

  /** 'shared': decisions go through Redis; 'local': Redis cannot be used, this gateway judges alone. */
  get mode (): 'shared' | 'local' {
    return this.#redis.state === 'ready' && this.#failing === undefined ? 'shared' : 'local'
  }

  get reason (): string {
    if (this.#redis.state !== 'ready') return `redis ${this.#redis.state}`
    return this.#failing === undefined ? 'redis ready' : `command failed: ${this.#failing}`
  }

  /** Writes `record` unless a decision is there already: resolves with what happened (never rejects). */
  publish (record: string): Promise<PublishResult> {
    if (this.#closed) return Promise.resolve({ kind: 'failed', why: 'closed' })
    if (this.#redis.state !== 'ready') return Promise.resolve({ kind: 'failed', why: `redis ${this.#redis.state}` })
    return Promise.resolve(this.#redis.client.eval(PUBLISH, 1, this.key, record, DECISION_TTL_S)).then((r): PublishResult => {
      this.#failing = undefined
      // A reply lost to a timeout may leave our own record there: it was written.
      return r === null || r === record ? { kind: 'written' } : { kind: 'taken', record: String(r) }
    }, (err: unknown): PublishResult => {
      const why = err instanceof Error ? err.message : String(err)
      this.#failing = why
      return { kind: 'failed', why }
    })
  }

  /** One look at Redis (the timer's tick): writes an unpublished decision, or reads the fleet's. */
  poll (): void {
    if (this.#closed || this.#busy || this.#redis.state !== 'ready') return
    if (this.#hooks.settled()) {
      clearInterval(this.#timer)
      return
    }
    this.#busy = true
    const record = this.#hooks.unpublished()
    if (record !== undefined) {
      this.publish(record).then((r) => {
        this.#busy = false
        if (r.kind !== 'failed' && !this.#closed) this.#hooks.published(r)
      }).catch(ignore)
      return
    }
    Promise.resolve(this.#redis.client.get(this.key)).then((v) => {
      this.#busy = false
      this.#failing = undefined
      if (v !== null && !this.#closed) this.#hooks.found(v)
    }, (err: unknown) => {
      this.#busy = false
      this.#failing = err instanceof Error ? err.message : String(err)
    }).catch(ignore)
  }

  /** Stops polling and following the connection. Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    this.#unsubscribe()
  }
}
