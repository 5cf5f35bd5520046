// The split's ordered rules: the first whose every condition holds sends the
// request to its side. Conditions are compiled once per instance: headers,
// cookies and query parameters as in a route's `match:` (exact string,
// {regex}, {present}), client IPs in CIDR ranges (the trusted-proxy aware
// client IP). The query string is parsed at most once per request, and only
// when a rule reaches a query condition.
import { compileValueCond, headerOk, testValue, type ValueCond } from '../../gateway/routing/router.js'
import { AddressSet } from '../../gateway/proxy/client-identity.js'
import type { MatchView } from '../types.js'
import { cookieValue } from './key.js'
import type { RuleOptions } from './options.js'

interface CompiledRule {
  readonly headers: readonly ValueCond[]
  readonly cookies: readonly ValueCond[]
  readonly query: readonly ValueCond[]
  readonly ips: AddressSet | undefined
  /** The side index it sends to. */
  readonly to: number
  /** What it looks at, for explanations: `header x-tester, ip`. */
  readonly what: string
}

export class Rules {
  readonly #rules: CompiledRule[]

  /** `sideIndex`: side name -> index (every rule's `to` is a side: checked at validation). */
  constructor (rules: readonly RuleOptions[], sideIndex: ReadonlyMap<string, number>) {
    this.#rules = rules.map((r) => {
      const conds = (where: string, m: RuleOptions['match']['headers'], lower: boolean): ValueCond[] =>
        Object.entries(m ?? {}).map(([name, v]) => compileValueCond('traffic-split', where, lower ? name.toLowerCase() : name, v))
      const headers = conds('header', r.match.headers, true)
      const cookies = conds('cookie', r.match.cookies, false)
      const query = conds('query', r.match.query, false)
      const what = [
        ...headers.map((c) => `header ${c.name}`),
        ...cookies.map((c) => `cookie ${c.name}`),
        ...query.map((c) => `query ${c.name}`),
        ...(r.match.ips === undefined ? [] : ['ip'])
      ].join(', ')
      return {
        headers,
        cookies,
        query,
        ips: r.match.ips === undefined ? undefined : new AddressSet(r.match.ips),
        to: sideIndex.get(r.to)!,
        what
      }
    })
  }

  get length (): number {
    return this.#rules.length
  }

  /** The index of the first rule the request meets, or -1. */
  match (view: MatchView): number {
    const rules = this.#rules
    let query: URLSearchParams | undefined
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!
      if (!allHeaders(r.headers, view)) continue
      if (r.cookies.length > 0 && !allCookies(r.cookies, view.headers.cookie)) continue
      if (r.query.length > 0) {
        query ??= new URLSearchParams(view.rawQuery)
        if (!allQuery(r.query, query)) continue
      }
      if (r.ips !== undefined && !r.ips.has(view.clientIp)) continue
      return i
    }
    return -1
  }

  /** The side index rule `i` sends to. */
  to (i: number): number {
    return this.#rules[i]!.to
  }

  /** `rule 0 (header x-tester)`. */
  describe (i: number): string {
    return `rule ${i} (${this.#rules[i]!.what})`
  }
}

function allHeaders (conds: readonly ValueCond[], view: MatchView): boolean {
  for (let i = 0; i < conds.length; i++) if (!headerOk(conds[i]!, view.headers)) return false
  return true
}

function allCookies (conds: readonly ValueCond[], header: string | undefined): boolean {
  for (let i = 0; i < conds.length; i++) if (!testValue(conds[i]!, cookieValue(header, conds[i]!.name))) return false
  return true
}

function allQuery (conds: readonly ValueCond[], query: URLSearchParams): boolean {
  for (let i = 0; i < conds.length; i++) if (!testValue(conds[i]!, query.get(conds[i]!.name))) return false
  return true
}
