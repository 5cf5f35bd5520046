// `gateway cutover`: the YAML edits (byte for byte outside the touched keys,
// in the file that defines the route), the validation of the whole config
// before anything is written, the atomic write, --dry-run, and the refusals.
// Run in-process against the built-in traffic-split plugin.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { before, test } from 'node:test'
import { cutoverCommand, type CutoverIO } from '../../../gateway/cli/cutover-command.js'
import { UsageError } from '../../../gateway/cli/usage.js'
import { displayFile } from '../../../gateway/config/format-issue.js'
import type { PluginRegistry } from '../../../plugins/registry.js'
import { tempDir } from '../../helpers/cli-config.js'
import { builtinRegistry } from '../../../plugins/registry.js'

let plugins: PluginRegistry
before(() => { plugins = builtinRegistry })

const NOW = new Date('2026-12-01T10:00:00.456Z')

interface Run { code: number; out: string; err: string }

async function cutover (...args: string[]): Promise<Run> {
  let out = ''
  let err = ''
  const io: CutoverIO = { out: (s) => { out += s }, err: (s) => { err += s }, now: () => NOW, env: {}, plugins }
  const code = await cutoverCommand(args, io)
  return { code, out, err }
}

const lines = (...l: string[]): string => l.join('\n') + '\n'

const MAIN = lines(
  '# Edge gateway: payments (cutover tests)',
  'listen: { host: 127.0.0.1, port: 9 }   # never started here',
  'admin:',
  '  host: 127.0.0.1',
  '  port: 19',
  'include: [routes/]',
  'upstreams:',
  '  payments-blue:',
  '    nodes: &blue-nodes',
  '      - url: http://127.0.0.1:9001   # blue',
  '  payments-green:',
  '    nodes:',
  "      - url: 'http://127.0.0.1:9002'",
  '  legacy:',
  '    nodes: *blue-nodes',
  'routes:',
  '  - id: checkout',
  '    match: {paths: [/checkout/*]}',
  '    upstream: payments-blue',
  '    plugins: { traffic-split: { sides: {blue: payments-blue, green: payments-green}, active: blue, weights: {green: 25} } }'
)

const PAYMENTS = lines(
  '# Payments routes: owned by the payments team.',
  'routes:',
  '  - id: payments',
  '    match: { paths: ["/v1/payments/*"] }   # all of the API',
  '    upstream: payments-blue',
  '    plugins:',
  '      traffic-split:',
  '        sides:',
  '          blue: payments-blue',
  '          green: payments-green',
  "        active: 'blue'          # the switch",
  '        rules:',
  '          - match: { headers: { x-tester: "yes" } }',
  '            to: green',
  '        weights: { green: 10 }   # canary',
  '',
  '        key: header:x-user-id',
  '      # the split runs before the upstream is chosen',
  '  - id: refunds',
  "    match: { paths: ['/v1/refunds/*'] }",
  '    upstream: legacy'
)

function tree (t: Parameters<typeof tempDir>[0], payments = PAYMENTS, main = MAIN): { dir: string; main: string; payments: string } {
  const dir = tempDir(t)
  fs.mkdirSync(path.join(dir, 'routes'))
  fs.writeFileSync(path.join(dir, 'gateway.yaml'), main)
  fs.writeFileSync(path.join(dir, 'routes', 'payments.yaml'), payments)
  return { dir, main: path.join(dir, 'gateway.yaml'), payments: path.join(dir, 'routes', 'payments.yaml') }
}

const read = (file: string): string => fs.readFileSync(file, 'utf8')
const show = (file: string): string => displayFile(file, process.cwd())

test('--to green edits the included file that defines the route, byte for byte outside active/previous/weights; the main file is untouched', async (t) => {
  const f = tree(t)
  const r = await cutover('payments', '--config', f.main, '--to', 'green')
  assert.equal(r.err, '')
  assert.equal(r.code, 0)
  assert.equal(read(f.main), MAIN)
  assert.equal(read(f.payments), PAYMENTS
    .replace("        active: 'blue'          # the switch\n", "        active: 'green'         # the switch\n        previous: blue\n")
    .replace('        weights: { green: 10 }   # canary\n', ''))
  assert.equal(r.out, lines(
    `route payments: wrote ${show(f.payments)}; the running gateway reloads it`,
    '  active: blue -> green',
    '  previous: (none) -> blue',
    '  weights: green 10 -> removed'
  ))
})

test('--rollback swaps active and previous back, and a second --to/--rollback round trip keeps the rest of the file', async (t) => {
  const f = tree(t)
  assert.equal((await cutover('payments', '--config', f.main, '--to', 'green')).code, 0)
  const afterTo = read(f.payments)
  const r = await cutover('payments', '--config', f.main, '--rollback')
  assert.equal(r.code, 0, r.err)
  // The comment after the value keeps its column both ways.
  assert.equal(read(f.payments), afterTo
    .replace("active: 'green'         #", "active: 'blue'          #")
    .replace('previous: blue', 'previous: green'))
  assert.match(r.out, /^ {2}active: green -> blue$/m)
  assert.match(r.out, /^ {2}previous: blue -> green$/m)
  // And forth again: the same text as after the first switch, but for previous, which now exists.
  assert.equal((await cutover('payments', '--config', f.main, '--to', 'green')).code, 0)
  assert.equal(read(f.payments), afterTo)
})

test('--ramp 10m writes ramp {to: the other side, start: now to the second, from: its current weight, duration}; weights kept', async (t) => {
  const f = tree(t)
  const r = await cutover('payments', '--config', f.main, '--ramp', '10m')
  assert.equal(r.code, 0, r.err)
  assert.equal(read(f.payments), PAYMENTS.replace('        key: header:x-user-id\n', lines(
    '        key: header:x-user-id',
    '        ramp:',
    '          to: green',
    '          start: "2026-12-01T10:00:00Z"',
    '          from: 10',
    '          duration: 10m'
  )))
  assert.match(r.out, /^ {2}ramp: green from 10 % to 100 % over 10m, starting 2026-12-01T10:00:00Z$/m)
})

test('--steps 10,25,50,100 --every 2m replaces a ramp in force where it stands (no `from`: a step ramp starts at its first step); a ramp in a flow mapping is written inline', async (t) => {
  const f = tree(t)
  assert.equal((await cutover('payments', '--config', f.main, '--ramp', '10m')).code, 0)
  const r = await cutover('payments', '--config', f.main, '--steps', '10,25,50,100', '--every', '2m')
  assert.equal(r.code, 0, r.err)
  assert.equal(read(f.payments), PAYMENTS.replace('        key: header:x-user-id\n', lines(
    '        key: header:x-user-id',
    '        ramp:',
    '          to: green',
    '          start: "2026-12-01T10:00:00Z"',
    '          steps: [10, 25, 50, 100]',
    '          every: 2m'
  )))
  assert.match(r.out, /replaces the ramp in force/)

  const flow = await cutover('checkout', '--config', f.main, '--steps', '50,100', '--every', '1m', '--to', 'green')
  assert.equal(flow.code, 0, flow.err)
  assert.equal(read(f.main), MAIN.replace('weights: {green: 25} } }',
    // Padded like the traffic-split mapping it goes in (`{ sides: ...`).
    'weights: {green: 25}, ramp: { to: green, start: "2026-12-01T10:00:00Z", steps: [50, 100], every: 1m } } }'))
})

test('--steps whose first step is below the side\'s weight in force is refused: users would move back', async (t) => {
  const f = tree(t)
  const r = await cutover('payments', '--config', f.main, '--steps', '5,25,50,100', '--every', '2m')
  assert.equal(r.code, 1)
  assert.equal(r.err, "gateway cutover: the first step (5 %) is below green's weight in force (10 %): users on green would move back to blue; start the steps at 10 or above\n")
  assert.equal(read(f.payments), PAYMENTS)
})

test('a flow-style traffic-split in the main file: --to green edits it inline, the rest of the line and file unchanged', async (t) => {
  const f = tree(t)
  const r = await cutover('checkout', '--config', f.main, '--to', 'green')
  assert.equal(r.code, 0, r.err)
  assert.equal(read(f.main), MAIN.replace('active: blue, weights: {green: 25} } }', 'active: green, previous: blue } }'))
  assert.equal(read(f.payments), PAYMENTS)
})

test('--dry-run prints the summary and a unified diff, and writes nothing', async (t) => {
  const f = tree(t)
  const mtime = fs.statSync(f.payments).mtimeMs
  const r = await cutover('payments', '--config', f.main, '--to', 'green', '--dry-run')
  assert.equal(r.code, 0, r.err)
  assert.equal(read(f.payments), PAYMENTS)
  assert.equal(fs.statSync(f.payments).mtimeMs, mtime)
  assert.deepEqual(fs.readdirSync(path.join(f.dir, 'routes')), ['payments.yaml'])
  const name = show(f.payments)
  assert.equal(r.out, lines(
    `route payments in ${name} (dry run: nothing written):`,
    '  active: blue -> green',
    '  previous: (none) -> blue',
    '  weights: green 10 -> removed',
    // A file outside the working directory is shown by its absolute path, without a/ and b/.
    ...(name.startsWith('/') ? [`--- ${name}`, `+++ ${name}`] : [`--- a/${name}`, `+++ b/${name}`]),
    '@@ -8,11 +8,11 @@',
    '         sides:',
    '           blue: payments-blue',
    '           green: payments-green',
    "-        active: 'blue'          # the switch",
    "+        active: 'green'         # the switch",
    '+        previous: blue',
    '         rules:',
    '           - match: { headers: { x-tester: "yes" } }',
    '             to: green',
    '-        weights: { green: 10 }   # canary',
    ' ',
    '         key: header:x-user-id',
    '       # the split runs before the upstream is chosen'
  ))
})

test('the write is atomic: the file keeps its mode, no temp file is left, and the directory holds only the config', async (t) => {
  const f = tree(t)
  fs.chmodSync(f.payments, 0o640)
  const r = await cutover('payments', '--config', f.main, '--to', 'green')
  assert.equal(r.code, 0, r.err)
  assert.equal(fs.statSync(f.payments).mode & 0o777, 0o640)
  assert.deepEqual(fs.readdirSync(path.join(f.dir, 'routes')), ['payments.yaml'])
  assert.deepEqual(fs.readdirSync(f.dir).sort(), ['gateway.yaml', 'routes'])
  assert.match(read(f.payments), /active: 'green'/)
})

test('a change that makes the config invalid is refused with file:line:column, and the file is untouched', async (t) => {
  const f = tree(t)
  const r = await cutover('payments', '--config', f.main, '--steps', '10,150', '--every', '2m')
  assert.equal(r.code, 1)
  assert.equal(r.out, '')
  assert.equal(read(f.payments), PAYMENTS)
  assert.deepEqual(fs.readdirSync(path.join(f.dir, 'routes')), ['payments.yaml'])
  // The edited text has `steps: [10, 150]` on line 21 (key: is line 17; then ramp:, to:, start:), the 150 at column 23.
  const errLines = r.err.trimEnd().split('\n')
  assert.match(errLines[0]!, new RegExp(`^${escape(show(f.payments))}:21:23: routes\\[1\\]\\.plugins\\.traffic-split\\.ramp\\.steps\\[1\\]: .*100`))
  assert.equal(errLines[errLines.length - 1], `gateway cutover: the change would make the config invalid (${errLines.length - 1} error(s)); ${show(f.payments)} is unchanged`)
})

test('refusals: one line, exit 1, nothing written', async (t) => {
  const f = tree(t)
  const refused = async (args: string[], message: string): Promise<void> => {
    const r = await cutover(...args)
    assert.equal(r.code, 1, args.join(' '))
    assert.equal(r.out, '')
    assert.equal(r.err, `gateway cutover: ${message}\n`)
    assert.equal(read(f.payments), PAYMENTS)
    assert.equal(read(f.main), MAIN)
  }
  await refused(['paymnts', '--config', f.main, '--to', 'green'], 'no route "paymnts" in the config (did you mean "payments"?)')
  await refused(['refunds', '--config', f.main, '--to', 'green'], 'route "refunds" has no traffic-split plugin (plugins.traffic-split)')
  await refused(['payments', '--config', f.main, '--to', 'red'], '"red" is not a side of route "payments" (sides: blue, green)')
  await refused(['payments', '--config', f.main, '--rollback'],
    'route "payments" has no previous colour to roll back to (no earlier cutover wrote one); to stop a ramp or weights, use --to blue')
  await refused(['payments', '--config', f.main, '--ramp', '5m', '--to', 'blue'],
    'blue is the active side of route "payments": a ramp moves traffic to another side')
})

test('--to the active colour drops weights and ramp; with none left, nothing to change and nothing written', async (t) => {
  const f = tree(t)
  const r = await cutover('payments', '--config', f.main, '--to', 'blue')
  assert.equal(r.code, 0, r.err)
  assert.equal(read(f.payments), PAYMENTS.replace('        weights: { green: 10 }   # canary\n', ''))
  const again = await cutover('payments', '--config', f.main, '--to', 'blue')
  assert.equal(again.code, 0)
  assert.equal(again.out, 'route payments: nothing to change (blue is already active on route "payments", with no weights and no ramp)\n')
})

test('a config that is not valid as it is: its errors, and nothing changed', async (t) => {
  const f = tree(t, PAYMENTS.replace('upstream: legacy', 'upstream: legasy'))
  const r = await cutover('payments', '--config', f.main, '--to', 'green')
  assert.equal(r.code, 1)
  assert.match(r.err, /payments\.yaml:21:\d+: .*legasy/)
  assert.match(r.err, /is not valid as it is \(1 error\(s\)\); nothing changed\n$/)
  assert.equal(read(f.payments), PAYMENTS.replace('upstream: legacy', 'upstream: legasy'))
})

test('anchors elsewhere survive; a traffic-split shared through an anchor is refused rather than changing two routes', async (t) => {
  const shared = PAYMENTS
    .replace('      traffic-split:\n', '      traffic-split: &split\n')
    .replace('    upstream: legacy\n', '    upstream: legacy\n  - id: mirror\n    match: { paths: [/mirror/*] }\n    upstream: legacy\n    plugins: { traffic-split: *split }\n')
  const f = tree(t, shared)
  const r = await cutover('payments', '--config', f.main, '--to', 'green')
  assert.equal(r.code, 1)
  assert.match(r.err, /^gateway cutover: route "payments": its traffic-split options are shared through an anchor \(.*payments\.yaml:8\); edit them by hand\n$/)
  assert.equal(read(f.payments), shared)
  // The main file's own anchor (&blue-nodes, used by legacy) is kept by an edit there.
  assert.equal((await cutover('checkout', '--config', f.main, '--to', 'green')).code, 0)
  assert.match(read(f.main), /nodes: &blue-nodes\n/)
  assert.match(read(f.main), /nodes: \*blue-nodes\n/)
})

test('CRLF files keep their line ends; an inserted line gets one too', async (t) => {
  const crlf = PAYMENTS.replace(/\n/g, '\r\n')
  const f = tree(t, crlf)
  const r = await cutover('payments', '--config', f.main, '--ramp', '90s')
  assert.equal(r.code, 0, r.err)
  const text = read(f.payments)
  assert.doesNotMatch(text.replace(/\r\n/g, ''), /\n/)
  assert.match(text, /\r\n {8}ramp:\r\n {10}to: green\r\n/)
})

test('usage mistakes are UsageErrors (exit 2 with the usage, from cli.ts)', async (t) => {
  const f = tree(t)
  const usage = async (args: string[], message: string): Promise<void> => {
    await assert.rejects(cutover(...args), (err: unknown) => err instanceof UsageError && err.message === message, args.join(' '))
  }
  await usage(['--config', f.main, '--to', 'green'], 'cutover needs a ROUTE (the id of a route with a traffic-split plugin)')
  await usage(['payments', '--to', 'green'], 'cutover needs --config FILE')
  await usage(['payments', '--config', f.main], 'cutover needs one of --to COLOUR, --rollback, --ramp DURATION, --steps LIST --every DURATION, --status')
  await usage(['payments', '--config', f.main, '--to', 'green', '--rollback'], 'cutover takes one of --to, --rollback')
  await usage(['payments', '--config', f.main, '--ramp', '5m', '--steps', '5,100', '--every', '1m'], 'cutover takes one of --ramp, --steps')
  await usage(['payments', '--config', f.main, '--status', '--dry-run'], '--dry-run does not go with --status (it only reads)')
  await usage(['payments', '--config', f.main, '--steps', '5,100'], '--steps needs --every DURATION (the time between two steps)')
  await usage(['payments', '--config', f.main, '--to', 'green', '--every', '1m'], '--every goes with --steps')
  await usage(['payments', '--config', f.main, '--ramp', '10'], '--ramp needs a duration such as 30s, 10m or 1h, got "10"')
  await usage(['payments', '--config', f.main, '--ramp', '0s'], '--ramp must be longer than 0')
  await usage(['payments', '--config', f.main, '--steps', '5;100', '--every', '1m'], '--steps needs percents separated by commas such as 5,25,50,100, got "5;100"')
})

function escape (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

test('loadConfig({texts}) validates the given text of an included file instead of what the disk holds', async (t) => {
  const f = tree(t)
  const { loadConfig } = await import('../../../gateway/config/load-config.js')
  const bad = PAYMENTS.replace('upstream: legacy', 'upstream: legasy')
  const r = loadConfig(f.main, {}, plugins, { texts: new Map([[f.payments, bad]]) })
  assert.equal(r.ok, false)
  assert.match(r.ok ? '' : r.issues.map((i) => `${i.location?.file}:${i.location?.line}: ${i.message}`).join('\n'), /payments\.yaml:21: .*legasy/)
  assert.equal(read(f.payments), PAYMENTS)
  assert.equal(loadConfig(f.main, {}, plugins).ok, true)
})

test('writeFileAtomic: a file changed meanwhile is not overwritten; a symlink stays a link to the rewritten target', async (t) => {
  const { FileChangedError, writeFileAtomic } = await import('../../../gateway/cli/atomic-write.js')
  const dir = tempDir(t)
  const file = path.join(dir, 'a.yaml')
  fs.writeFileSync(file, 'edited by someone else\n')
  assert.throws(() => writeFileAtomic(file, 'new\n', 'what the command read\n'), FileChangedError)
  assert.equal(read(file), 'edited by someone else\n')
  assert.deepEqual(fs.readdirSync(dir), ['a.yaml'])

  fs.mkdirSync(path.join(dir, 'real'))
  const target = path.join(dir, 'real', 'b.yaml')
  fs.writeFileSync(target, 'old\n')
  const link = path.join(dir, 'b.yaml')
  fs.symlinkSync(target, link)
  writeFileAtomic(link, 'new\n', 'old\n')
  assert.ok(fs.lstatSync(link).isSymbolicLink())
  assert.equal(read(target), 'new\n')
  assert.deepEqual(fs.readdirSync(path.join(dir, 'real')), ['b.yaml'])
})

test('a standing rollback policy stays through ramps and switches: --ramp, then --to green, then --rollback all go through and keep it', async (t) => {
  const withPolicy = PAYMENTS.replace('        key: header:x-user-id\n', '        key: header:x-user-id\n        rollback: { minRequests: 20, window: 30s }\n')
  const f = tree(t, withPolicy)
  for (const args of [['--ramp', '10m'], ['--to', 'green'], ['--rollback']]) {
    const r = await cutover('payments', '--config', f.main, ...args)
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`)
    assert.match(read(f.payments), /^ {8}rollback: \{ minRequests: 20, window: 30s \}$/m, `${args.join(' ')} keeps the policy`)
  }
  assert.doesNotMatch(read(f.payments), /ramp:/)
})
