/**
 * LoRA tensor names → the checkpoint weights they change. Pure: names and shapes in, targets out.
 *
 * Files come in three namings, all normalised to kohya's (`lora_unet_<module_with_underscores>`):
 * kohya-ss (`lora_unet_…`/`lora_te_…` + `.lora_down.weight`, `.lora_up.weight`, `.alpha`), PEFT as
 * diffusers saves it (`unet.<module>.lora_A.weight`/`lora_B.weight`) and diffusers' older attention
 * processors (`unet.<block>.processor.to_q_lora.down.weight`). Module names are then mapped to the
 * LDM (CompVis) names of a single-file checkpoint the way AUTOMATIC1111's Lora extension does
 * (networks.py convert_diffusers_name_to_compvis), so `lora_unet_down_blocks_0_attentions_0_…` and
 * LDM-named `lora_unet_input_blocks_1_1_…` both land on `model.diffusion_model.input_blocks.1.1.…`.
 */
import { EaselError } from '../../shared/errors.ts';
import type { NodeInfo } from '../onnx/initializers.ts';

export type LoraPart = 'down' | 'up' | 'alpha';

/** One adapted layer: its kohya-style name and the tensor names of its parts. */
export interface LoraModule {
  /** kohya-style: `lora_unet_…` or `lora_te_…`. */
  name: string;
  down: string;
  up: string;
  alpha?: string;
}

const KOHYA = /^(lora_(?:unet|te\d?)_[^.]+)\.(lora_down\.weight|lora_up\.weight|alpha)$/;
const PEFT = /^(unet|text_encoder)\.(.+?)\.(lora_A\.weight|lora_B\.weight|lora\.down\.weight|lora\.up\.weight|lora_linear_layer\.down\.weight|lora_linear_layer\.up\.weight|alpha)$/;
const ATTENTION_PROCESSOR = /^(?:(unet|text_encoder)\.)?(.+?)\.(?:processor\.)?(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$/;
/** Tensor-name fragments of LyCORIS and other adapter kinds Easel does not apply. */
const OTHER_ADAPTERS: Array<[RegExp, string]> = [
  [/\.hada_w[12]_[ab]$|\.hada_t[12]$/, 'LoHa (LyCORIS)'],
  [/\.lokr_w[12](_[ab])?$|\.lokr_t2$/, 'LoKr (LyCORIS)'],
  [/\.lora_mid\.weight$/, 'LoCon with CP decomposition (LyCORIS)'],
  [/\.oft_(blocks|diag)$/, 'OFT'],
  [/\.(diff|diff_b)$/, 'a full-weight difference (LyCORIS "full")'],
  [/\.w_norm$|\.b_norm$/, 'a norm adapter (LyCORIS)'],
  [/\.on_input$|\.weight_ia3$/, '(IA)³'],
  [/^lora_te2_/, 'SDXL (a second text encoder)'],
];

const PART_OF: Record<string, LoraPart> = {
  'lora_down.weight': 'down', 'lora_up.weight': 'up', alpha: 'alpha',
  'lora_A.weight': 'down', 'lora_B.weight': 'up', 'lora.down.weight': 'down', 'lora.up.weight': 'up',
  'lora_linear_layer.down.weight': 'down', 'lora_linear_layer.up.weight': 'up',
};

const PROCESSOR_TARGET: Record<string, { unet: string; text_encoder: string }> = {
  to_q: { unet: 'to_q', text_encoder: 'q_proj' },
  to_k: { unet: 'to_k', text_encoder: 'k_proj' },
  to_v: { unet: 'to_v', text_encoder: 'v_proj' },
  to_out: { unet: 'to_out.0', text_encoder: 'out_proj' },
};

function kohyaName(component: 'unet' | 'text_encoder', modulePath: string): string {
  return `lora_${component === 'unet' ? 'unet' : 'te'}_${modulePath.replace(/\./g, '_')}`;
}

/** Groups a LoRA file's tensor names into modules; refuses files that are not plain LoRA. */
export function groupLoraModules(file: string, names: Iterable<string>): LoraModule[] {
  const parts = new Map<string, Partial<Record<LoraPart, string>>>();
  const unknown: string[] = [];
  for (const tensor of names) {
    for (const [pattern, kind] of OTHER_ADAPTERS) {
      if (pattern.test(tensor)) {
        throw new EaselError('LORA_UNSUPPORTED', `${file} is ${kind}, not a LoRA (its tensor ${tensor}); Easel applies plain LoRA files (kohya or diffusers/PEFT).`);
      }
    }
    let name: string | undefined;
    let part: LoraPart | undefined;
    let match: RegExpExecArray | null;
    if ((match = KOHYA.exec(tensor))) {
      [name, part] = [match[1], PART_OF[match[2]]];
    } else if ((match = ATTENTION_PROCESSOR.exec(tensor))) {
      const component = (match[1] ?? 'unet') as 'unet' | 'text_encoder';
      [name, part] = [kohyaName(component, `${match[2]}.${PROCESSOR_TARGET[match[3]][component]}`), match[4] as LoraPart];
    } else if ((match = PEFT.exec(tensor))) {
      [name, part] = [kohyaName(match[1] as 'unet' | 'text_encoder', match[2]), PART_OF[match[3]]];
    }
    if (!name || !part) {
      unknown.push(tensor);
      continue;
    }
    const entry = parts.get(name) ?? {};
    entry[part] = tensor;
    parts.set(name, entry);
  }
  const modules: LoraModule[] = [];
  for (const [name, entry] of parts) {
    if (!entry.down || !entry.up) {
      throw new EaselError('LORA_INVALID', `${file}: ${name} has ${entry.down ? 'no up' : 'no down'} weight; the file is incomplete.`);
    }
    modules.push({ name, down: entry.down, up: entry.up, alpha: entry.alpha });
  }
  if (modules.length === 0) {
    const example = unknown.slice(0, 2).join(', ') || 'none';
    throw new EaselError('LORA_UNSUPPORTED', `${file} holds no LoRA weights Easel recognises (tensors such as ${example}); it expects kohya (lora_unet_…) or diffusers/PEFT (unet.….lora_A.weight) names.`);
  }
  return modules;
}

const RESNET_SUFFIX: Record<string, string> = {
  conv1: 'in_layers_2', conv2: 'out_layers_3', norm1: 'in_layers_0', norm2: 'out_layers_0', time_emb_proj: 'emb_layers_1', conv_shortcut: 'skip_connection',
};

/** networks.py convert_diffusers_name_to_compvis: a kohya module name as A1111's layer mapping spells it. */
export function kohyaToCompvis(name: string, isSd2: boolean): string {
  let m: RegExpExecArray | null;
  const n = (text: string) => Number(text);
  const suffix = (kind: string, rest: string) => (kind === 'resnets' ? RESNET_SUFFIX[rest] ?? rest : rest);
  if ((m = /^lora_unet_conv_in(.*)$/.exec(name))) return `diffusion_model_input_blocks_0_0${m[1]}`;
  if ((m = /^lora_unet_conv_out(.*)$/.exec(name))) return `diffusion_model_out_2${m[1]}`;
  if ((m = /^lora_unet_time_embedding_linear_(\d+)(.*)$/.exec(name))) return `diffusion_model_time_embed_${n(m[1]) * 2 - 2}${m[2]}`;
  if ((m = /^lora_unet_down_blocks_(\d+)_(attentions|resnets)_(\d+)_(.+)$/.exec(name))) {
    return `diffusion_model_input_blocks_${1 + n(m[1]) * 3 + n(m[3])}_${m[2] === 'attentions' ? 1 : 0}_${suffix(m[2], m[4])}`;
  }
  if ((m = /^lora_unet_mid_block_(attentions|resnets)_(\d+)_(.+)$/.exec(name))) {
    return `diffusion_model_middle_block_${m[1] === 'attentions' ? 1 : n(m[2]) * 2}_${suffix(m[1], m[3])}`;
  }
  if ((m = /^lora_unet_up_blocks_(\d+)_(attentions|resnets)_(\d+)_(.+)$/.exec(name))) {
    return `diffusion_model_output_blocks_${n(m[1]) * 3 + n(m[3])}_${m[2] === 'attentions' ? 1 : 0}_${suffix(m[2], m[4])}`;
  }
  if ((m = /^lora_unet_down_blocks_(\d+)_downsamplers_0_conv$/.exec(name))) return `diffusion_model_input_blocks_${3 + n(m[1]) * 3}_0_op`;
  if ((m = /^lora_unet_up_blocks_(\d+)_upsamplers_0_conv$/.exec(name))) return `diffusion_model_output_blocks_${2 + n(m[1]) * 3}_${n(m[1]) > 0 ? 2 : 1}_conv`;
  if ((m = /^lora_te_text_model_encoder_layers_(\d+)_(.+)$/.exec(name))) {
    if (!isSd2) return `transformer_text_model_encoder_layers_${m[1]}_${m[2]}`;
    const rest = m[2].replace('mlp_fc1', 'mlp_c_fc').replace('mlp_fc2', 'mlp_c_proj').replace('self_attn', 'attn');
    return `model_transformer_resblocks_${m[1]}_${rest}`;
  }
  return name;
}

/** Where a LoRA module's delta goes: a checkpoint weight, or a row block of SD 2.x's fused in_proj. */
export interface LoraTarget {
  /** The checkpoint key of the weight (= the ONNX initializer name of an imported model). */
  key: string;
  component: 'unet' | 'text_encoder';
  /** For a q/k/v LoRA on OpenCLIP's fused in_proj_weight: which third (0 q, 1 k, 2 v). */
  fusedPart?: 0 | 1 | 2;
  /** The weight is stored [in, out] (an export's MatMul weight, or a Gemm without transB): the delta goes in transposed. */
  transposed?: boolean;
}

/**
 * A1111's network_layer_mapping built from checkpoint keys: module path with `_` for `.`, without the
 * `model.` / `cond_stage_model.` prefix, → the weight's full key.
 */
export function layerMapping(checkpointKeys: Iterable<string>): Map<string, LoraTarget> {
  const mapping = new Map<string, LoraTarget>();
  for (const key of checkpointKeys) {
    let m: RegExpExecArray | null;
    if ((m = /^model\.(diffusion_model\..+)\.weight$/.exec(key))) {
      mapping.set(m[1].replace(/\./g, '_'), { key, component: 'unet' });
    } else if ((m = /^cond_stage_model\.(.+)\.(weight|in_proj_weight)$/.exec(key))) {
      mapping.set(m[1].replace(/\./g, '_'), { key, component: 'text_encoder' });
    }
  }
  return mapping;
}

/** Where a diffusers module path starts in an export's names, after any wrapper module's prefix. */
const DIFFUSERS_ROOT = /(?:^|\.)((?:conv_in|conv_out|time_embedding|down_blocks|mid_block|up_blocks|text_model)(?:\.|$).*)$/;

function diffusersPath(name: string | undefined): string | undefined {
  return name === undefined ? undefined : DIFFUSERS_ROOT.exec(name)?.[1];
}

/**
 * The layer mapping of a diffusers/Optimum ONNX export, keyed as layerMapping's. torch.onnx keeps the
 * names of Conv and Gemm weights (`down_blocks.0.resnets.0.conv1.weight`) and of biases, but gives a
 * Linear's weight, transposed to [in, out] for MatMul, a generated name (`onnx::MatMul_5747`); the
 * MatMul node keeps the module path (`/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul`).
 * A weight's module is read from its own name, else from the bias added to its output, else from the
 * node's name; a wrapper's prefix (`u.`, `/u/`) is skipped.
 */
export function exportLayerMapping(nodes: readonly NodeInfo[], initializerDims: ReadonlyMap<string, readonly number[]>, component: 'unet' | 'text_encoder'): Map<string, LoraTarget> {
  const consumers = new Map<string, NodeInfo[]>();
  for (const node of nodes) for (const input of node.inputs) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  const namedModule = (initializer: string | undefined, suffix: string) =>
    initializer !== undefined && initializerDims.has(initializer) && initializer.endsWith(suffix) ? diffusersPath(initializer.slice(0, -suffix.length)) : undefined;
  const mapping = new Map<string, LoraTarget>();
  for (const node of nodes) {
    const weight = node.inputs[1];
    const rank = initializerDims.get(weight)?.length;
    const layer = (node.op === 'MatMul' || node.op === 'Gemm') && rank === 2 ? 'linear' : node.op === 'Conv' && rank === 4 ? 'conv' : undefined;
    if (!layer) continue;
    const addedBias = node.op === 'MatMul'
      ? (consumers.get(node.outputs[0]) ?? []).filter((next) => next.op === 'Add').flatMap((next) => next.inputs).find((input) => namedModule(input, '.bias') !== undefined)
      : node.inputs[2];
    const module = namedModule(weight, '.weight') ?? namedModule(addedBias, '.bias') ?? diffusersPath(node.name.split('/').filter(Boolean).slice(0, -1).join('.'));
    if (!module) continue;
    const name = kohyaToCompvis(`lora_${component === 'unet' ? 'unet' : 'te'}_${module.replace(/\./g, '_')}`, false);
    const transposed = node.op === 'MatMul' || (node.op === 'Gemm' && node.ints.transB !== 1);
    if (!mapping.has(name)) mapping.set(name, { key: weight, component, transposed });
  }
  return mapping;
}

export interface ResolvedLora {
  matched: Array<{ module: LoraModule; target: LoraTarget }>;
  /** Modules that name no weight of this model (a LoRA for another architecture, or SDXL). */
  unmatched: string[];
}

/** networks.py load_network's lookup: converted name, then the q/k/v → fused attention fallback, then LDM-named keys. */
export function resolveLoraTargets(modules: readonly LoraModule[], mapping: ReadonlyMap<string, LoraTarget>, isSd2: boolean): ResolvedLora {
  const matched: ResolvedLora['matched'] = [];
  const unmatched: string[] = [];
  for (const module of modules) {
    const compvis = kohyaToCompvis(module.name, isSd2);
    let target = mapping.get(compvis);
    const projection = /^(.*)_([qkv])_proj$/.exec(compvis);
    if (!target && projection) {
      const fused = mapping.get(projection[1]);
      if (fused && fused.key.endsWith('.in_proj_weight')) target = { ...fused, fusedPart: ({ q: 0, k: 1, v: 2 } as const)[projection[2] as 'q' | 'k' | 'v'] };
    }
    if (!target && module.name.startsWith('lora_unet_')) target = mapping.get(module.name.replace('lora_unet_', 'diffusion_model_'));
    if (target) matched.push({ module, target });
    else unmatched.push(module.name);
  }
  return { matched, unmatched };
}
