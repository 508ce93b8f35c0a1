import type { UNetConfig, VaeConfig } from './ldmConfig.ts';

/**
 * LDM (original checkpoint) key → diffusers key, for reading a diffusers folder with the same graph
 * builders: the tables of diffusers' scripts/convert_diffusers_to_original_stable_diffusion.py, read
 * the other way. Keys here are without the component prefix (`model.diffusion_model.` etc.).
 */
export function unetKeyMap(config: UNetConfig): (ldmKey: string) => string {
  const pairs: Array<[string, string]> = [
    ['time_embed.0.', 'time_embedding.linear_1.'],
    ['time_embed.2.', 'time_embedding.linear_2.'],
    ['input_blocks.0.0.', 'conv_in.'],
    ['out.0.', 'conv_norm_out.'],
    ['out.2.', 'conv_out.'],
  ];
  const levels = config.channelMult.length;
  const perLevel = config.numResBlocks + 1;
  let ds = 1;
  const attentionLevels: boolean[] = [];
  for (let level = 0; level < levels; level++) {
    attentionLevels.push(config.attentionResolutions.includes(ds));
    ds *= 2;
  }
  for (let i = 0; i < levels; i++) {
    for (let j = 0; j < config.numResBlocks; j++) {
      pairs.push([`input_blocks.${1 + i * perLevel + j}.0.`, `down_blocks.${i}.resnets.${j}.`]);
      if (attentionLevels[i]) pairs.push([`input_blocks.${1 + i * perLevel + j}.1.`, `down_blocks.${i}.attentions.${j}.`]);
    }
    if (i < levels - 1) pairs.push([`input_blocks.${(i + 1) * perLevel}.0.op.`, `down_blocks.${i}.downsamplers.0.conv.`]);
    // diffusers' up block i is ldm's output level levels−1−i.
    const ldmLevel = levels - 1 - i;
    for (let j = 0; j < perLevel; j++) {
      pairs.push([`output_blocks.${i * perLevel + j}.0.`, `up_blocks.${i}.resnets.${j}.`]);
      if (attentionLevels[ldmLevel]) pairs.push([`output_blocks.${i * perLevel + j}.1.`, `up_blocks.${i}.attentions.${j}.`]);
    }
    if (i < levels - 1) pairs.push([`output_blocks.${i * perLevel + perLevel - 1}.${attentionLevels[ldmLevel] ? 2 : 1}.`, `up_blocks.${i}.upsamplers.0.`]);
  }
  pairs.push(['middle_block.1.', 'mid_block.attentions.0.']);
  pairs.push(['middle_block.0.', 'mid_block.resnets.0.'], ['middle_block.2.', 'mid_block.resnets.1.']);
  const resnetParts: Array<[string, string]> = [
    ['in_layers.0.', 'norm1.'], ['in_layers.2.', 'conv1.'], ['out_layers.0.', 'norm2.'], ['out_layers.3.', 'conv2.'],
    ['emb_layers.1.', 'time_emb_proj.'], ['skip_connection.', 'conv_shortcut.'],
  ];
  return (key) => {
    for (const [ldm, hf] of pairs) {
      if (!key.startsWith(ldm)) continue;
      let rest = key.slice(ldm.length);
      if (hf.includes('.resnets.')) for (const [a, b] of resnetParts) if (rest.startsWith(a)) rest = b + rest.slice(a.length);
      return hf + rest;
    }
    return key;
  };
}

export function vaeKeyMap(config: VaeConfig): (ldmKey: string) => string {
  const levels = config.chMult.length;
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < levels; i++) {
    for (let j = 0; j < config.numResBlocks; j++) pairs.push([`encoder.down.${i}.block.${j}.`, `encoder.down_blocks.${i}.resnets.${j}.`]);
    if (i < levels - 1) pairs.push([`encoder.down.${i}.downsample.`, `encoder.down_blocks.${i}.downsamplers.0.`]);
    for (let j = 0; j <= config.numResBlocks; j++) pairs.push([`decoder.up.${levels - 1 - i}.block.${j}.`, `decoder.up_blocks.${i}.resnets.${j}.`]);
    if (i < levels - 1) pairs.push([`decoder.up.${levels - 1 - i}.upsample.`, `decoder.up_blocks.${i}.upsamplers.0.`]);
  }
  for (const part of ['encoder', 'decoder']) {
    pairs.push([`${part}.mid.block_1.`, `${part}.mid_block.resnets.0.`], [`${part}.mid.block_2.`, `${part}.mid_block.resnets.1.`]);
    pairs.push([`${part}.mid.attn_1.`, `${part}.mid_block.attentions.0.`], [`${part}.norm_out.`, `${part}.conv_norm_out.`]);
  }
  const attentionParts: Array<[string, string]> = [['norm.', 'group_norm.'], ['q.', 'to_q.'], ['k.', 'to_k.'], ['v.', 'to_v.'], ['proj_out.', 'to_out.0.']];
  return (key) => {
    for (const [ldm, hf] of pairs) {
      if (!key.startsWith(ldm)) continue;
      let rest = key.slice(ldm.length);
      if (hf.endsWith('attentions.0.')) for (const [a, b] of attentionParts) if (rest.startsWith(a)) rest = b + rest.slice(a.length);
      rest = rest.replace(/^nin_shortcut\./, 'conv_shortcut.');
      return hf + rest;
    }
    return key;
  };
}
