/**
 * LoRAs merged into a model's weights when its sessions are created: the UNet and the text encoder
 * graphs get their affected initializers replaced (W' = W + m·α/r·up·down, summed over every LoRA),
 * everything else stays external. A session is re-created only when the LoRAs that touch it change.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { readTensorAsFloat32 } from '../checkpoint/safetensors.ts';
import { EaselError } from '../../shared/errors.ts';
import { encodeInitializer, listInitializers, listNodes, readInitializerFloats, replaceInitializers } from '../onnx/initializers.ts';
import { exportLayerMapping, layerMapping, resolveLoraTargets, type LoraTarget } from './loraKeys.ts';
import { addLoraDelta } from './loraMerge.ts';
import type { LoraFile } from './loraFile.ts';
import type { LoadedModel } from '../modelSessions.ts';
import { componentGraph } from '../modelFolder.ts';
import { createSessionWithProvider } from '../providers.ts';

export type LoraComponent = 'unet' | 'text_encoder';

export interface AppliedLora {
  /** The name the prompt used (`<lora:NAME:…>`). */
  name: string;
  file: LoraFile;
  textEncoderMultiplier: number;
  unetMultiplier: number;
}

const componentOf = (moduleName: string): LoraComponent => (moduleName.startsWith('lora_unet_') ? 'unet' : 'text_encoder');

function multiplierFor(lora: AppliedLora, component: LoraComponent): number {
  return component === 'unet' ? lora.unetMultiplier : lora.textEncoderMultiplier;
}

/** What a component's weights depend on: the LoRAs with modules for it and a non-zero multiplier, in order. */
export function loraStateKey(loras: readonly AppliedLora[], component: LoraComponent): string {
  return loras
    .filter((lora) => multiplierFor(lora, component) !== 0 && lora.file.modules.some((module) => componentOf(module.name) === component))
    .map((lora) => `${lora.file.hash}×${multiplierFor(lora, component)}`)
    .join('+');
}

export interface PatchedComponent {
  /** The model bytes with the merged weights embedded; undefined when no LoRA touches this component. */
  bytes?: Uint8Array;
  /** Weights changed. */
  weights: number;
  /** Per LoRA name, its modules for this component that match no weight of the model. */
  unmatched: Map<string, string[]>;
}

/**
 * The component's model.onnx with every LoRA merged in. `weightsDir` is where its external data lies
 * (the model's folder, or an imported checkpoint's folder).
 */
export async function patchComponent(modelPath: string, weightsDir: string | undefined, component: LoraComponent, loras: readonly AppliedLora[]): Promise<PatchedComponent> {
  const unmatched = new Map<string, string[]>();
  const active = loras.filter((lora) => multiplierFor(lora, component) !== 0);
  if (active.length === 0) return { weights: 0, unmatched };
  const model = new Uint8Array(await readFile(modelPath));
  const initializers = listInitializers(model);
  // An imported checkpoint's weights carry their checkpoint keys; an Optimum/diffusers export's are found through its nodes.
  let mapping = layerMapping(initializers.keys());
  if (mapping.size === 0) mapping = exportLayerMapping(listNodes(model), new Map([...initializers].map(([name, info]) => [name, info.dims])), component);
  const isSd2 = [...initializers.keys()].some((name) => name.startsWith('cond_stage_model.model.'));
  const deltas = new Map<string, Array<{ lora: AppliedLora; module: { up: string; down: string; alpha?: string; name: string }; target: LoraTarget }>>();
  for (const lora of active) {
    const modules = lora.file.modules.filter((module) => componentOf(module.name) === component);
    const resolved = resolveLoraTargets(modules, mapping, isSd2);
    if (resolved.unmatched.length > 0) unmatched.set(lora.name, resolved.unmatched);
    for (const { module, target } of resolved.matched) {
      const list = deltas.get(target.key) ?? [];
      list.push({ lora, module, target });
      deltas.set(target.key, list);
    }
  }
  if (deltas.size === 0) return { weights: 0, unmatched };
  const replacements = new Map<string, Uint8Array>();
  for (const [key, list] of deltas) {
    const info = initializers.get(key)!;
    const weight = await readInitializerFloats(modelPath, weightsDir ?? dirname(modelPath), model, info);
    for (const { lora, module, target } of list) {
      const header = lora.file.header;
      const up = header.tensors.get(module.up)!;
      const down = header.tensors.get(module.down)!;
      const alpha = module.alpha ? (await readTensorAsFloat32(header, module.alpha))[0] : undefined;
      const factor = { up: await readTensorAsFloat32(header, module.up), upShape: up.shape, down: await readTensorAsFloat32(header, module.down), downShape: down.shape, alpha };
      const where = `${basename(lora.file.path)} ${module.name} → ${key}`;
      const rowOffset = target.fusedPart === undefined ? 0 : target.fusedPart * (info.dims[0] / 3);
      if (target.transposed) {
        // An export's MatMul weight is [in, out]: merge into [out, in] and store it back as it was.
        const [inFeatures, outFeatures] = info.dims;
        const merged = transpose(weight, inFeatures, outFeatures);
        addLoraDelta(merged, [outFeatures, inFeatures], factor, multiplierFor(lora, component), where, rowOffset);
        weight.set(transpose(merged, outFeatures, inFeatures));
      } else {
        addLoraDelta(weight, info.dims, factor, multiplierFor(lora, component), where, rowOffset);
      }
    }
    replacements.set(key, encodeInitializer(info, weight));
  }
  return { bytes: replaceInitializers(model, replacements), weights: replacements.size, unmatched };
}

/** A row-major [rows, columns] matrix transposed. */
function transpose(values: Float32Array, rows: number, columns: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) out[c * rows + r] = values[r * columns + c];
  return out;
}

/** Refuses a LoRA none of whose modules matched the model (it is for another architecture). */
export function checkLorasMatched(loras: readonly AppliedLora[], results: ReadonlyArray<PatchedComponent>): string[] {
  const notices: string[] = [];
  for (const lora of loras) {
    const missed = results.flatMap((result) => result.unmatched.get(lora.name) ?? []);
    if (missed.length === 0) continue;
    if (missed.length === lora.file.modules.length) {
      throw new EaselError('LORA_UNSUPPORTED', `The LoRA "${lora.name}" changes no weight of this model (${missed.length} layers such as ${missed[0]} have no match): it is for another architecture (SDXL?), or this ONNX export lost its layer names (an optimized or hand-made graph); import the model's .safetensors checkpoint instead.`);
    }
    notices.push(`LoRA ${lora.name}: ${missed.length} of ${lora.file.modules.length} layers have no matching weight in this model and were skipped (e.g. ${missed[0]}).`);
  }
  return notices;
}

/**
 * Makes the model's UNet and text encoder carry exactly these LoRAs. Only a component whose set of
 * LoRAs (and multipliers) changed gets a new session; the old one is released once the new one works.
 * Returns notices for LoRA layers that matched nothing.
 */
export async function applyLoras(model: LoadedModel, loras: readonly AppliedLora[], onComponent?: (component: LoraComponent) => void): Promise<{ notices: string[]; recreated: LoraComponent[] }> {
  const components: LoraComponent[] = ['text_encoder', 'unet'];
  const wanted = Object.fromEntries(components.map((component) => [component, loraStateKey(loras, component)])) as Record<LoraComponent, string>;
  const changed = components.filter((component) => (model.loraState?.[component] ?? '') !== wanted[component]);
  const results: PatchedComponent[] = [];
  const sessions: Partial<Record<LoraComponent, Awaited<ReturnType<typeof createSessionWithProvider>>['session']>> = {};
  try {
    for (const component of changed) {
      onComponent?.(component);
      const path = componentGraph(model.folder, component, model.provider);
      const weightsDir = model.folder.imported?.weightsDirs[component];
      const patched = await patchComponent(path, weightsDir, component, loras);
      results.push(patched);
      const { session } = await createSessionWithProvider(path, model.provider, {}, weightsDir, patched.bytes);
      sessions[component] = session;
    }
  } catch (error) {
    await Promise.all(Object.values(sessions).map((session) => session.release().catch(() => undefined)));
    throw error;
  }
  const notices = checkLorasMatched(loras.filter((lora) => changed.some((component) => multiplierFor(lora, component) !== 0)), results);
  for (const component of changed) await model.replaceSession(component, sessions[component]!);
  model.loraState = wanted;
  return { notices, recreated: changed };
}
