// Checks on single string values that JSON Schema cannot express. Each returns
// a human-readable problem, or undefined when the value is fine. They run inside
// ajv (keyword `check: '<name>'`, see schema.ts) so that their errors carry the
// value's path like every other schema error.
import { isIP } from 'node:net'
import safeRegex from 'safe-regex2'
import { hostPatternError, PARAM_NAME_RE, pathPatternError } from '../routing/pattern.js'

export type Check = (value: string) => string | undefined

const HOST_NAME_RE = /^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/
const IPV6_LITERAL_RE = /^\[[0-9a-f:.]+\]$/

/** Parameter names follow the router's rule (PARAM_NAME_RE, routing/pattern.ts). */
function paramNameError (name: string): string {
  return `invalid parameter ":${name}": a name is a letter or "_" followed by letters, digits or "_"`
}

/** `:name` segments of a path pattern or rewrite template, in order. */
export function paramNames (pattern: string): string[] {
  const names: string[] = []
  for (const seg of pattern.split('/')) if (seg.startsWith(':')) names.push(seg.slice(1))
  return names
}

function checkPathPattern (value: string): string | undefined {
  if (!value.startsWith('/')) return 'must start with "/"'
  if (/[?#\s]/.test(value)) return 'must be a path only (no query string, fragment or spaces)'
  for (const seg of value.split('/')) {
    if (seg.startsWith(':') && !PARAM_NAME_RE.test(seg.slice(1))) return paramNameError(seg.slice(1))
  }
  const err = pathPatternError(value)
  // The router's own parser has the final word (it also canonicalises escapes).
  return err === undefined ? undefined : err.replace(/^path pattern "(?:[^"\\]|\\.)*": /, '')
}

function checkHost (value: string): string | undefined {
  const err = hostPatternError(value)
  if (err !== undefined) return err
  const h = value.trim().toLowerCase()
  if (!HOST_NAME_RE.test(h) && !IPV6_LITERAL_RE.test(h)) {
    return 'must be a host name without port, e.g. "api.example.com" or "*.example.com"'
  }
  return undefined
}

function checkUpstreamUrl (value: string): string | undefined {
  const example = 'must look like "http://host:port" or "http://host:port/base-path"'
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return `invalid URL: ${example}`
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `scheme must be http or https, got "${url.protocol.slice(0, -1)}"`
  if (url.username !== '' || url.password !== '') return 'must not contain credentials (user:password@)'
  if (value.includes('?') || value.includes('#')) return 'must not contain a query string or fragment'
  if (url.hostname === '') return `missing host: ${example}`
  // URL drops default ports (":80"), so look at what was written.
  const authority = value.slice(value.indexOf('//') + 2).split('/')[0]!
  if (!/:\d+$/.test(authority)) return `missing port: ${example}`
  const port = Number(authority.slice(authority.lastIndexOf(':') + 1))
  if (port < 1 || port > 65535) return 'port must be 1..65535'
  return undefined
}

/** `redis://[user:password@]host[:port][/db]` or `rediss://...`. Messages never repeat the value: it may hold a password. */
function checkRedisUrl (value: string): string | undefined {
  const example = 'must look like "redis://host:6379", "rediss://host:6380" or "redis://user:password@host:6379/0"'
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return `invalid URL: ${example}`
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return `scheme must be redis or rediss, got "${url.protocol.slice(0, -1)}"`
  if (url.hostname === '') return `missing host: ${example}`
  if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) return 'must not contain a query string or fragment'
  if (url.pathname !== '' && url.pathname !== '/' && !/^\/\d{1,5}$/.test(url.pathname)) return 'the path, if any, must be a database number ("/0")'
  try {
    decodeURIComponent(url.username)
    decodeURIComponent(url.password)
  } catch {
    return 'user name and password must be percent-encoded (or give them as redis.username / redis.password)'
  }
  return undefined
}

function checkIpOrCidr (value: string): string | undefined {
  const slash = value.indexOf('/')
  const ip = slash === -1 ? value : value.slice(0, slash)
  const family = isIP(ip)
  if (family === 0) return `"${value}" is not an IP address or CIDR (e.g. "10.0.0.0/8", "::1")`
  if (slash !== -1) {
    const bits = value.slice(slash + 1)
    const max = family === 4 ? 32 : 128
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `"${value}": prefix length must be 0..${max}`
  }
  return undefined
}

function checkRegex (value: string): string | undefined {
  try {
    // eslint-disable-next-line no-new
    new RegExp(value)
  } catch (err) {
    return `invalid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')}`
  }
  if (!safeRegex(value)) {
    return 'regular expression may backtrack catastrophically (nested or too many repetitions); simplify it'
  }
  return undefined
}

function checkRewritePath (value: string): string | undefined {
  if (!value.startsWith('/')) return 'must start with "/"'
  if (/[?#\s]/.test(value)) return 'must be a path only (no query string, fragment or spaces)'
  if (value.includes('*')) return '"*" is not allowed in a rewrite template (use rewrite.prefix to keep the rest of the path)'
  for (const name of paramNames(value)) {
    if (!PARAM_NAME_RE.test(name)) return paramNameError(name)
  }
  return undefined
}

function checkPrefix (value: string): string | undefined {
  if (!value.startsWith('/')) return 'must start with "/"'
  if (/[?#\s*]/.test(value)) return 'must be a literal path (no "*", query string, fragment or spaces)'
  return undefined
}

export const checks: Readonly<Record<string, Check>> = {
  'path-pattern': checkPathPattern,
  host: checkHost,
  'upstream-url': checkUpstreamUrl,
  'redis-url': checkRedisUrl,
  'ip-or-cidr': checkIpOrCidr,
  regex: checkRegex,
  'rewrite-path': checkRewritePath,
  prefix: checkPrefix
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped), localhost. */
export function isLoopback (host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h
  return isIP(v4) === 4 && v4.startsWith('127.')
}
