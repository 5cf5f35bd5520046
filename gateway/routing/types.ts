import type { IncomingHttpHeaders } from 'node:http'
import type { RouteMatch } from '../config/types.js'

/** What the router needs to know about one route; `value` is what a match returns. */
export interface RouteEntry<T> {
  id: string
  match: RouteMatch
  priority: number
  value: T
}

/** The parts of a request the router looks at. `path` is already normalised. */
export interface RequestView {
  method: string
  /** Lower-case host without port. */
  host: string
  path: string
  headers: IncomingHttpHeaders
  /** Raw query string without `?` ('' when none); parsed only if a route has query conditions. */
  rawQuery: string
}

export interface RouteHit<T> {
  value: T
  /** The matched pattern, e.g. `/orders/:id` or `/api/*`. */
  pattern: string
  /** Named parameters, and `*` for what a prefix pattern's wildcard matched. */
  params: Record<string, string>
}

/** An immutable route table compiled once per config. */
export interface Router<T> {
  find(req: RequestView): RouteHit<T> | undefined
  readonly size: number
}

/** Two routes that no request can tell apart (reported by the compiler, refused by validate). */
export interface RouteConflict {
  first: string
  second: string
  reason: string
}
