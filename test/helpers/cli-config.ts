// Config files for the tests that run the gateway command as a child process:
// a temp dir removed when the test ends, and one small config as exact text
// (the tests check the file:line:col the CLI reports in it).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** A fresh directory under the system temp dir; removed after the test. */
export function tempDir (t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-cli-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * Listen and admin on 127.0.0.1 at these ports; upstream `a` with one node
 * (`nodeKey: 3` at line 7, column 9: pass a typo to get a config error there);
 * route `r` on /r/*. The default node is port 9 (discard), never answered.
 */
export function yamlConfig (listenPort: number, adminPort: number, upstreamUrl = 'http://127.0.0.1:9', nodeKey = 'weight'): string {
  return [
    `listen: { host: 127.0.0.1, port: ${listenPort} }`,
    `admin: { host: 127.0.0.1, port: ${adminPort} }`,
    'upstreams:',
    '  a:',
    '    nodes:',
    `      - url: ${upstreamUrl}`,
    `        ${nodeKey}: 3`,
    'routes:',
    '  - id: r',
    '    match: { paths: [/r/*] }',
    '    upstream: a',
    ''
  ].join('\n')
}
