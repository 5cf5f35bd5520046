// Steady load on a gateway: concurrent keep-alive loops of GETs, and POSTs
// with a body (never re-sent once sent), each sending its next request as soon
// as the last is answered. Counts answers by the node that served them (the
// `{"node": NAME}` of upstream-process.ts) and records every failure.
import { Pool } from 'undici'

export const GET_LOOPS = 12
export const POST_LOOPS = 4
const CONCURRENCY = GET_LOOPS + POST_LOOPS
const POST_BODY = JSON.stringify({ amount: 100, currency: 'EUR', note: 'x'.repeat(2000) })

export class SteadyLoad {
  readonly pool: Pool
  running = true
  ok = 0
  /** Non-200 answers and transport errors, with when they happened. */
  readonly failures: Array<{ at: number; what: string }> = []
  /** Answers per node name. */
  readonly byNode = new Map<string, number>()
  /** The node of each 200 answer, in the order they came. */
  readonly order: string[] = []
  readonly #loops: Promise<void>[] = []

  constructor (port: number, readonly path = '/svc/x') {
    this.pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY })
    for (let i = 0; i < GET_LOOPS; i++) this.#loops.push(this.#loop(false))
    for (let i = 0; i < POST_LOOPS; i++) this.#loops.push(this.#loop(true))
  }

  async #loop (post: boolean): Promise<void> {
    while (this.running) {
      try {
        const res = await this.pool.request(post
          ? { path: this.path, method: 'POST', body: POST_BODY, headers: { 'content-type': 'application/json' } }
          : { path: this.path, method: 'GET' })
        const body = await res.body.text()
        if (res.statusCode === 200) {
          this.ok++
          const node = (JSON.parse(body) as { node: string }).node
          this.byNode.set(node, (this.byNode.get(node) ?? 0) + 1)
          this.order.push(node)
        } else {
          this.failures.push({ at: Date.now(), what: `${post ? 'POST' : 'GET'} ${res.statusCode} ${body.slice(0, 120)}` })
        }
      } catch (err) {
        this.failures.push({ at: Date.now(), what: (err as Error).message })
      }
    }
  }

  served (node: string): number { return this.byNode.get(node) ?? 0 }

  /** The last `n` answers all came from `node`. */
  lastFrom (node: string, n: number): boolean {
    const o = this.order
    return o.length >= n && o.slice(-n).every((x) => x === node)
  }

  async stop (): Promise<void> {
    this.running = false
    await Promise.all(this.#loops)
    await this.pool.close()
  }
}
