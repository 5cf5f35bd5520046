// Path parameter names: one rule (PARAM_NAME_RE in routing/pattern.ts) for the
// router's parser, the config's path-pattern check and rewrite templates.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checks } from '../../../gateway/config/checks.js'
import { PARAM_NAME_RE, pathPatternError } from '../../../gateway/routing/pattern.js'

const NAME_RULE = 'a name is a letter or "_" followed by letters, digits or "_"'

const cases: Array<{ name: string; ok: boolean }> = [
  { name: 'id', ok: true },
  { name: '_', ok: true },
  { name: '_tenant2', ok: true },
  { name: 'userId', ok: true },
  { name: 'x-y', ok: false },
  { name: '9', ok: false },
  { name: '1st', ok: false },
  { name: '-a', ok: false },
  { name: 'a.b', ok: false },
  { name: '', ok: false }
]

describe('path parameter names: the router and config validation apply the same rule', () => {
  for (const c of cases) {
    it(`":${c.name}" is ${c.ok ? 'accepted' : 'refused'} everywhere`, () => {
      assert.equal(PARAM_NAME_RE.test(c.name), c.ok, 'PARAM_NAME_RE')
      const routerError = pathPatternError(`/a/:${c.name}/b`)
      assert.equal(routerError === undefined, c.ok, `router parser: ${routerError ?? 'accepted'}`)
      if (!c.ok) {
        assert.equal(routerError,
          `path pattern "/a/:${c.name}/b": parameter name ${JSON.stringify(c.name)} must be a letter or '_' followed by letters, digits or '_'`)
      }
      const expected = c.ok ? undefined : `invalid parameter ":${c.name}": ${NAME_RULE}`
      assert.equal(checks['path-pattern']!(`/a/:${c.name}/b`), expected, 'config path-pattern check')
      assert.equal(checks['rewrite-path']!(`/v2/:${c.name}`), expected, 'config rewrite-path check')
    })
  }
})
