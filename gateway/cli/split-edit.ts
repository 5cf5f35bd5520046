// Applies a cutover change to the traffic-split mapping where it is written,
// and checks the result: the edited text, parsed again, must read exactly as
// the original with only those keys changed (so an unusual layout is refused,
// never written half right).
import { isDeepStrictEqual } from 'node:util'
import { parseDocument } from 'yaml'
import type { CutoverChange } from './cutover-plan.js'
import { PARSE_OPTIONS, type SplitLocation } from './split-location.js'
import { EditConflict, MapEditor, plainValue } from './yaml-edit.js'

/** The file's new text; throws EditConflict when the change cannot be made in place. */
export function editSplit (loc: SplitLocation, change: CutoverChange): string {
  const editor = new MapEditor(loc.text, loc.map)
  for (const key of change.remove) editor.remove(key)
  for (const [key, value] of change.set) editor.set(key, value, key === 'previous' ? 'active' : undefined)
  const text = editor.result()

  const expected = loc.doc.toJS() as unknown
  const split = loc.path.reduce<any>((node, k) => node?.[k], expected) as Record<string, unknown> | undefined
  if (typeof split !== 'object' || split === null) throw new EditConflict('the traffic-split mapping does not read as one')
  for (const key of change.remove) delete split[key]
  for (const [key, value] of change.set) split[key] = plainValue(value)

  const after = parseDocument(text, PARSE_OPTIONS)
  if (after.errors.length > 0) throw new EditConflict(`the edited YAML does not parse (${after.errors[0]!.message.split('\n')[0]})`)
  if (!isDeepStrictEqual(after.toJS(), expected)) throw new EditConflict('the edited YAML does not read as intended (anchors or an unusual layout)')
  return text
}
