/**
 * Reads the subset of YAML that Stable Diffusion's model configurations (v1-inference.yaml and its
 * kin) use: nested block mappings by indentation, scalars, quoted strings, `[a, b]` flow lists and
 * `#` comments. Anything else is an error rather than a guess.
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

export function parseMiniYaml(text: string): { [key: string]: YamlValue } {
  const root: { [key: string]: YamlValue } = {};
  const stack: Array<{ indent: number; map: { [key: string]: YamlValue } }> = [{ indent: -1, map: root }];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = stripComment(lines[n]).replace(/\s+$/, '');
    if (line.trim() === '' || line.trim() === '---') continue;
    const indent = line.length - line.trimStart().length;
    const match = /^([^:]+?):(\s+(.*))?$/.exec(line.trim());
    if (!match) throw new Error(`line ${n + 1}: expected "key: value"`);
    while (stack.length > 1 && indent <= stack[stack.length - 1].indent) stack.pop();
    const parent = stack[stack.length - 1].map;
    const key = match[1].trim();
    const rest = match[3];
    if (rest === undefined || rest.trim() === '') {
      const child: { [key: string]: YamlValue } = {};
      parent[key] = child;
      stack.push({ indent, map: child });
    } else {
      parent[key] = scalar(rest);
    }
  }
  return root;
}
