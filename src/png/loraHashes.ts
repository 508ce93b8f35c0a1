/**
 * AUTOMATIC1111's `Lora hashes` infotext value: "name: 0123456789ab, other: …" (the name as the prompt
 * wrote it, without ':' or ','; the hash is the first 12 hex digits of the LoRA's addnet SHA-256).
 */
export interface LoraHash {
  name: string;
  hash: string;
}

export function formatLoraHashes(loras: readonly LoraHash[]): string | undefined {
  if (loras.length === 0) return undefined;
  return loras.map(({ name, hash }) => `${name.replace(/[:,]/g, '')}: ${hash}`).join(', ');
}

/** Reads the value back; entries that are not "name: hexdigits" are skipped. */
export function parseLoraHashes(value: string): LoraHash[] {
  const found: LoraHash[] = [];
  for (const entry of value.split(',')) {
    const match = /^\s*(.+?):\s*([0-9a-f]{8,64})\s*$/i.exec(entry);
    if (match) found.push({ name: match[1], hash: match[2].toLowerCase() });
  }
  return found;
}
