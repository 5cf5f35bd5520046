// `${VAR}` and `${VAR:-default}` in YAML string values. Done on parsed scalars,
// so positions stay those of the YAML text. `$${` writes a literal `${`.
// As in the shell, `:-` also uses the default when VAR is set but empty.

export type Substitution =
  | { ok: true; value: string; /** the whole value was one reference */ whole: boolean }
  | { ok: false; message: string }

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/

export function substitute (input: string, env: NodeJS.ProcessEnv): Substitution {
  if (!input.includes('${')) return { ok: true, value: input, whole: false }
  let out = ''
  let refs = 0
  let literal = false
  const problems: string[] = []
  let i = 0
  while (i < input.length) {
    const start = input.indexOf('${', i)
    if (start === -1) {
      out += input.slice(i)
      if (i < input.length) literal = true
      break
    }
    if (start > 0 && input[start - 1] === '$') {
      // `$${` -> literal `${` (the first `$` was already copied: drop it)
      out += input.slice(i, start - 1) + '${'
      literal = true
      i = start + 2
      continue
    }
    if (start > i) literal = true
    out += input.slice(i, start)
    const end = input.indexOf('}', start + 2)
    if (end === -1) {
      problems.push(`unterminated "\${" (write "$\${" for a literal "\${")`)
      break
    }
    const inner = input.slice(start + 2, end)
    const sep = inner.indexOf(':-')
    const name = sep === -1 ? inner : inner.slice(0, sep)
    const def = sep === -1 ? undefined : inner.slice(sep + 2)
    refs++
    if (!NAME_RE.test(name)) {
      problems.push(`invalid variable reference "\${${inner}}" (expected \${NAME} or \${NAME:-default})`)
    } else {
      const v = env[name]
      if (def !== undefined && (v === undefined || v === '')) out += def
      else if (v !== undefined) out += v
      else problems.push(`environment variable ${name} is not set (use \${${name}:-default} to give a default)`)
    }
    i = end + 1
  }
  if (problems.length > 0) return { ok: false, message: problems.join('; ') }
  return { ok: true, value: out, whole: refs === 1 && !literal }
}
