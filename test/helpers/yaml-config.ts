import fs from 'node:fs'
import path from 'node:path'
import { stringify } from 'yaml'

/** Writes `obj` as YAML to `dir/name` (creating `dir`) and returns the file's path. */
export function writeConfig(dir: string, obj: object, name = 'gateway.yaml'): string {
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, name)
  fs.writeFileSync(file, stringify(obj))
  return file
}
