// JSON Schemas of the YAML configuration, one per section. Every object is
// closed (`additionalProperties: false`). Custom keywords (registered in
// validate.ts):
//   size: true              integer bytes or "512kb"; replaced by the number of bytes
//   duration: true          integer ms or "30s"; replaced by the number of ms
//   duration: {zero: '<why>'}  the same, 0 refused: `why` says what 0 would switch off
//   check: '<name>'         a string check from checks.ts
//   hint: '<text>'          message used instead of ajv's for pattern errors
// Defaults are filled in by ajv (`useDefaults`), so sizes and durations have
// their defaults already in normalised form.
import type { PluginDefinition } from '../../plugins/types.js'
import { breakerSchema, fallbackSchema } from './breaker-schema.js'

type Schema = Record<string, unknown>

const TOKEN_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
const ID_PATTERN = '^[A-Za-z0-9._:-]+$'

const port = (def: number): Schema => ({ type: 'integer', minimum: 0, maximum: 65535, default: def })
const duration = (def: number): Schema => ({ duration: true, default: def })
/** A timeout that must not be 0 (Node and undici read 0 as "no limit"): `why` says what 0 would do. */
const timeout = (def: number, why: string): Schema => ({ duration: { zero: why }, default: def })
const size = (def?: number): Schema => (def === undefined ? { size: true } : { size: true, default: def })

export const listenSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    host: { type: 'string', minLength: 1, default: '0.0.0.0' },
    port: port(8080)
  }
}

export const adminSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    host: { type: 'string', minLength: 1, default: '127.0.0.1' },
    port: port(9180),
    token: { type: 'string', minLength: 1 }
  }
}

export const serverSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    bodyLimit: size(1024 * 1024),
    trustedProxies: { type: 'array', default: [], items: { type: 'string', check: 'ip-or-cidr' } },
    headersTimeout: timeout(10_000,
      '0 switches off the time limit for receiving request headers, the guard against clients that send them slowly'),
    requestTimeout: timeout(60_000,
      '0 switches off the time limit for receiving a whole request, the guard against clients that send it slowly'),
    keepAliveTimeout: timeout(72_000, '0 switches off the closing of idle client connections: they would stay open for good'),
    // 0: stop without waiting for requests in flight.
    drainTimeout: duration(30_000),
    pluginTimeout: timeout(1_000,
      '0 switches off the deadline on plugins\' asynchronous access phases: a plugin whose promise never settles would hold its request for good'),
    maxHeaderSize: size(16 * 1024),
    maxUriLength: size(8 * 1024)
  }
}

export const accessLogSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    enabled: { type: 'boolean', default: true }
  }
}

export const upstreamNodeSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: { type: 'string', check: 'upstream-url' },
    weight: { type: 'integer', minimum: 1, maximum: 1000, default: 1 },
    zone: { type: 'string', minLength: 1 },
    metadata: { type: 'object', default: {}, additionalProperties: { type: 'string' } }
  }
}

/** Priority groups by zone (gateway/upstream/zones.ts); the cross-field rules are in failover-zones.ts. */
export const failoverSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['zones'],
  properties: {
    zones: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
    minHealthy: { type: 'number', minimum: 0, maximum: 1, default: 0.7 }
  }
}

export const BALANCERS = ['roundrobin', 'random', 'least-conn', 'chash'] as const

/**
 * `upstreams.<name>.healthCheck`: the active probe of the upstream's nodes.
 * `timeout` and `jitter` have defaults that depend on `interval`: filled in
 * by build-health-check.ts, with the checks across these keys.
 */
export const healthCheckSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['path'],
  properties: {
    path: { type: 'string', pattern: '^/[!-~]*$', hint: 'must be a path starting with "/", without spaces, e.g. "/healthz"' },
    interval: { duration: { zero: '0 would probe the node in a tight loop' }, default: 5_000 },
    jitter: { duration: true },
    timeout: { duration: { zero: '0 switches off the probe timeout: a node that accepts the connection and never answers would never be judged' } },
    healthyThreshold: { type: 'integer', minimum: 1, maximum: 100, default: 2 },
    unhealthyThreshold: { type: 'integer', minimum: 1, maximum: 100, default: 3 },
    statuses: { type: 'array', minItems: 1, default: [200], items: { type: 'integer', minimum: 100, maximum: 599 } },
    host: {
      type: 'string',
      pattern: '^([A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*\\.?|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?$',
      hint: 'must be a host name or IP, with an optional port, e.g. "orders.internal" or "10.0.0.1:8080"'
    }
  }
}

export const upstreamSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['nodes'],
  properties: {
    balancer: { type: 'string', enum: [...BALANCERS], default: 'roundrobin' },
    hashOn: {
      type: 'string',
      pattern: '^((header|cookie):[!#$%&\'*+.^_`|~0-9A-Za-z-]+|ip|path)$',
      hint: 'must be "header:NAME", "cookie:NAME", "ip" or "path"'
    },
    nodes: { type: 'array', minItems: 1, items: upstreamNodeSchema },
    timeouts: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        connect: timeout(2_000,
          '0 switches off the connect timeout: a node that does not answer would hold requests until the OS gives up'),
        header: timeout(30_000,
          '0 switches off the wait limit for a node\'s response headers: a hung node would hold requests for good'),
        // Optional: absent, an attempt may use all that is left of `header`.
        try: { duration: { zero: '0 would mean no per-attempt limit: leave timeouts.try out for that' } },
        idle: timeout(60_000,
          '0 switches off the limit on silence between response body chunks: a stalled body would hold requests for good')
      }
    },
    pool: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        connections: { type: 'integer', minimum: 1, maximum: 100_000, default: 128 },
        keepAliveTimeout: timeout(4_000, 'the connection pool to the nodes cannot be created with 0')
      }
    },
    retries: { type: 'integer', minimum: 0, maximum: 10, default: 1 },
    failover: failoverSchema,
    breaker: breakerSchema(true),
    healthCheck: healthCheckSchema,
    retryBudget: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        ratio: { type: 'number', minimum: 0, maximum: 1, default: 0.2 },
        minPerSecond: { type: 'number', minimum: 0, maximum: 100_000, default: 3 }
      }
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxRequests: { type: 'integer', minimum: 1, maximum: 10_000_000 },
        maxPending: { type: 'integer', minimum: 0, maximum: 10_000_000 }
      }
    }
  }
}

/** string | {regex} | {present}; the object form must have exactly one key. */
export const valueMatcherSchema: Schema = {
  type: ['string', 'object'],
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  hint: 'must be a string, {regex: "..."} or {present: true|false}',
  properties: {
    regex: { type: 'string', check: 'regex' },
    present: { type: 'boolean' }
  }
}

export const routeMatchSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['paths'],
  properties: {
    hosts: { type: 'array', default: [], items: { type: 'string', check: 'host' } },
    paths: { type: 'array', minItems: 1, items: { type: 'string', check: 'path-pattern' } },
    methods: {
      type: 'array',
      default: [],
      items: { type: 'string', pattern: TOKEN_PATTERN, hint: 'must be an HTTP method name such as GET' }
    },
    headers: {
      type: 'object',
      default: {},
      propertyNames: { pattern: TOKEN_PATTERN, hint: 'must be a valid header name' },
      additionalProperties: valueMatcherSchema
    },
    query: {
      type: 'object',
      default: {},
      propertyNames: { minLength: 1 },
      additionalProperties: valueMatcherSchema
    }
  }
}

export const routeRewriteSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    stripPrefix: { type: 'boolean', default: false },
    prefix: { type: 'string', check: 'prefix' },
    path: { type: 'string', check: 'rewrite-path' }
  }
}

/** A `plugins:` map (a route's, or the top-level one of global plugins): one property per known plugin, its own schema. */
export function pluginsSchema (plugins: ReadonlyMap<string, PluginDefinition>): Schema {
  const properties: Record<string, unknown> = {}
  for (const [name, def] of plugins) properties[name] = def.schema
  return { type: 'object', additionalProperties: false, default: {}, properties }
}

export function routeSchema (plugins: ReadonlyMap<string, PluginDefinition>): Schema {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'match', 'upstream'],
    properties: {
      id: { type: 'string', pattern: ID_PATTERN, hint: 'must be letters, digits, ".", "_", ":" or "-"' },
      match: routeMatchSchema,
      priority: { type: 'integer', default: 0 },
      upstream: { type: 'string', minLength: 1 },
      rewrite: routeRewriteSchema,
      websocket: { type: 'boolean', default: false },
      bodyLimit: size(),
      plugins: pluginsSchema(plugins),
      breaker: breakerSchema(false),
      fallback: fallbackSchema
    }
  }
}

const redisEndpointSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['host', 'port'],
  properties: {
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 1, maximum: 65535 }
  }
}

/**
 * The shared Redis connection (optional). Exactly one of url / sentinels (+
 * name) / cluster: checked in build-redis.ts, with the other cross-field rules.
 */
export const redisSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    url: { type: 'string', check: 'redis-url' },
    sentinels: { type: 'array', minItems: 1, items: redisEndpointSchema },
    name: { type: 'string', minLength: 1 },
    cluster: { type: 'array', minItems: 1, items: redisEndpointSchema },
    username: { type: 'string', minLength: 1 },
    password: { type: 'string', minLength: 1 },
    db: { type: 'integer', minimum: 0, maximum: 65535 },
    keyPrefix: { type: 'string', pattern: '^[!-~]*$', hint: 'must be printable ASCII without spaces', default: 'gw:' },
    commandTimeout: timeout(50,
      '0 switches off the command timeout: a slow or frozen Redis would hold requests for good'),
    connectTimeout: timeout(1_000,
      '0 switches off the connect timeout: an unreachable Redis would keep one connection attempt pending for good'),
    reconnect: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        min: timeout(50, '0 would reconnect in a tight loop'),
        max: timeout(2_000, '0 would reconnect in a tight loop')
      }
    }
  }
}

export const nodeSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    id: { type: 'string', pattern: ID_PATTERN, hint: 'must be letters, digits, ".", "_", ":" or "-"' },
    zone: { type: 'string', minLength: 1 }
  }
}

/** The merged configuration (main file with included upstreams and routes appended). */
export function configSchema (plugins: ReadonlyMap<string, PluginDefinition>): Schema {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      listen: listenSchema,
      admin: adminSchema,
      server: serverSchema,
      accessLog: accessLogSchema,
      node: nodeSchema,
      redis: redisSchema,
      include: { type: 'array', items: { type: 'string', minLength: 1 } },
      plugins: pluginsSchema(plugins),
      upstreams: {
        type: 'object',
        default: {},
        propertyNames: { pattern: ID_PATTERN, hint: 'must be letters, digits, ".", "_", ":" or "-"' },
        additionalProperties: upstreamSchema
      },
      routes: { type: 'array', default: [], items: routeSchema(plugins) }
    }
  }
}

/** Top-level keys allowed in a file named by `include:`. */
export const INCLUDE_FILE_KEYS = ['upstreams', 'routes'] as const
