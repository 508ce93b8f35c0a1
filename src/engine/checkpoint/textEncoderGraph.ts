import type { GraphBuilder } from '../onnx/onnxWriter.ts';
import type { TextEncoderConfig } from './ldmConfig.ts';
import { Layers, type LayerOptions } from './layers.ts';
import type { WeightSource } from './weights.ts';

/**
 * The text encoder as diffusers exports it: input_ids [B, 77] (int64) → last_hidden_state [B, 77, width].
 * `clip`: transformers' CLIPTextModel keys (SD 1.x, `cond_stage_model.transformer.text_model.*`), all
 * layers, final layer norm. `openclip`: OpenCLIP keys (SD 2.x, `cond_stage_model.model.*`), fused
 * in_proj q/k/v, GELU, run to the penultimate layer, then ln_final, as FrozenOpenCLIPEmbedder does.
 */
export function buildTextEncoderGraph(config: TextEncoderConfig, weights: WeightSource, prefix: string, options: LayerOptions): GraphBuilder {
  const L = new Layers('text_encoder', weights, options);
  const g = L.g;
  const { width, heads, contextLength } = config;
  const ids = g.input('input_ids', 'int64', ['batch', 'sequence']);
  const clip = config.kind === 'clip';
  const tokenKey = clip ? `${prefix}embeddings.token_embedding.weight` : `${prefix}token_embedding.weight`;
  const positionKey = clip ? `${prefix}embeddings.position_embedding.weight` : `${prefix}positional_embedding`;
  const tokens = g.op('Gather', [L.w(tokenKey, [config.vocabSize, width]), ids], { axis: 0 }, `${tokenKey}/gather`);
  let h = g.op('Add', [tokens, L.w(positionKey, [contextLength, width])], {}, `${prefix}embeddings/out`);

  const mask = new Float32Array(contextLength * contextLength);
  for (let i = 0; i < contextLength; i++) for (let j = i + 1; j < contextLength; j++) mask[i * contextLength + j] = -1e9;
  const causal = g.constant('float32', [contextLength, contextLength], mask, { name: 'text_encoder/causal_mask' });

  for (let layer = 0; layer < config.layers; layer++) {
    if (clip) {
      const key = `${prefix}encoder.layers.${layer}`;
      const normed = L.layerNorm(h, `${key}.layer_norm1`, width);
      const q = L.linear(normed, `${key}.self_attn.q_proj`, width, width);
      const k = L.linear(normed, `${key}.self_attn.k_proj`, width, width);
      const v = L.linear(normed, `${key}.self_attn.v_proj`, width, width);
      const attended = L.linear(L.attention(q, k, v, heads, width, `${key}.self_attn`, causal), `${key}.self_attn.out_proj`, width, width);
      h = g.op('Add', [h, attended], {}, `${key}.self_attn/residual`);
      const inner = L.linear(L.layerNorm(h, `${key}.layer_norm2`, width), `${key}.mlp.fc1`, width, width * 4);
      const activated = config.activation === 'gelu' ? L.gelu(inner, `${key}.mlp`) : L.quickGelu(inner, `${key}.mlp`);
      h = g.op('Add', [h, L.linear(activated, `${key}.mlp.fc2`, width * 4, width)], {}, `${key}.mlp/residual`);
    } else {
      const key = `${prefix}transformer.resblocks.${layer}`;
      const normed = L.layerNorm(h, `${key}.ln_1`, width);
      // OpenCLIP's nn.MultiheadAttention keeps q, k and v in one [3·width, width] in_proj matrix.
      const qkv = L.linear(normed, `${key}.attn.in_proj`, width, width * 3, true, `${key}.attn.in_proj_weight`, `${key}.attn.in_proj_bias`);
      const [q, k, v] = g.opMulti('Split', [qkv, g.ints([width, width, width])], 3, { axis: -1 }, `${key}.attn/qkv`);
      const attended = L.linear(L.attention(q, k, v, heads, width, `${key}.attn`, causal), `${key}.attn.out_proj`, width, width);
      h = g.op('Add', [h, attended], {}, `${key}.attn/residual`);
      const inner = L.linear(L.layerNorm(h, `${key}.ln_2`, width), `${key}.mlp.c_fc`, width, width * 4);
      const activated = config.activation === 'gelu' ? L.gelu(inner, `${key}.mlp`) : L.quickGelu(inner, `${key}.mlp`);
      h = g.op('Add', [h, L.linear(activated, `${key}.mlp.c_proj`, width * 4, width)], {}, `${key}.mlp/residual`);
    }
  }
  const out = clip ? L.layerNorm(h, `${prefix}final_layer_norm`, width) : L.layerNorm(h, `${prefix}ln_final`, width);
  g.op('Identity', [out], {}, 'last_hidden_state');
  g.output('last_hidden_state', L.dtype, ['batch', 'sequence', width]);
  return g;
}
