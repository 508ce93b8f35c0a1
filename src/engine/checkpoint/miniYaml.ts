/**
 * Reads the subset of YAML that Stable Diffusion's model configurations (v1-inference.yaml and its
 * kin) use: nested block mappings by indentation, scalars, quoted strings, `[a, b]` flow lists, block
 * lists of scalars (`- 1` lines, which the original yamls use for `ch_mult`, indented as their key or deeper)
 * and `#` comments. Anything else is an error rather than a guess.
 */
export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

function scalar(text: string): YamlValue {
  const value = text.trim();
  if (value === '' || value === '~' || value === 'null') return null;
  if (value === 'true' || value === 'True') return true;
  if (value === 'false' || value === 'False') return false;
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value)) return Number(value);
  if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) return value.slice(1, -1);
  if (value.startsWith('[') && value.endsWith(']')) {
    const inner = value.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map(scalar);
  }
  if (value === '{}') return {};
  return value;
}

function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      return line.slice(0, i);
    }
  }
  return line;
}

type YamlMap = { [key: string]: YamlValue };

export function parseMiniYaml(text: string): YamlMap {
  const root: YamlMap = {};
  // Each open mapping, with where it hangs (so that an empty one can turn into a block list).
  const stack: Array<{ indent: number; map: YamlMap; parent?: YamlMap; key?: string; list?: YamlValue[] }> = [{ indent: -1, map: root }];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = stripComment(lines[n]).replace(/\s+$/, '');
    if (line.trim() === '' || line.trim() === '---') continue;
    const indent = line.length - line.trimStart().length;
    const item = /^-(\s+(.*))?$/.exec(line.trim());
    if (item) {
      while (stack.length > 1 && indent < stack[stack.length - 1].indent) stack.pop();
      const top = stack[stack.length - 1];
      if (!top.parent || top.key === undefined || (!top.list && Object.keys(top.map).length > 0)) throw new Error(`line ${n + 1}: a list item "-" must follow a key with no value`);
      if (item[2] !== undefined && /^[^'"[{]*:(\s|$)/.test(item[2])) throw new Error(`line ${n + 1}: lists of mappings are not supported`);
      if (!top.list) top.parent[top.key] = top.list = [];
      top.list.push(scalar(item[2] ?? ''));
      continue;
    }
    const match = /^([^:]+?):(\s+(.*))?$/.exec(line.trim());
    if (!match) throw new Error(`line ${n + 1}: expected "key: value"`);
    while (stack.length > 1 && indent <= stack[stack.length - 1].indent) stack.pop();
    const top = stack[stack.length - 1];
    if (top.list) throw new Error(`line ${n + 1}: "${match[1].trim()}:" inside a list`);
    const parent = top.map;
    const key = match[1].trim();
    const rest = match[3];
    if (rest === undefined || rest.trim() === '') {
      const child: YamlMap = {};
      parent[key] = child;
      stack.push({ indent, map: child, parent, key });
    } else {
      parent[key] = scalar(rest);
    }
  }
  return root;
}
