import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../src/engine/checkpoint/safetensors.ts';
import { detectFamily } from '../../../src/engine/checkpoint/family.ts';
import { encodeSafetensorsHeader, writeSafetensors } from '../../../src/engine/checkpoint/safetensorsWriter.ts';
import { isEaselError } from '../../../src/shared/errors.ts';
import { temporaryFolder } from '../../helpers/fixtures.ts';

const REFERENCE = 'test/reference/single_file';
const FP32 = join(REFERENCE, 'sd15-tiny-public-fp32.safetensors');
const FP16 = join(REFERENCE, 'sd15-tiny-public-fp16.safetensors');

test('the reference checkpoint header lists every tensor with absolute offsets inside the file', async () => {
  const header = await readSafetensorsHeader(FP32);
  assert.equal(header.tensors.size, 960);
  assert.deepEqual(header.metadata, { format: 'pt' });
  const conv = header.tensors.get('model.diffusion_model.input_blocks.0.0.weight')!;
  assert.deepEqual(conv.shape, [16, 4, 3, 3]);
  assert.equal(conv.dtype, 'F32');
  assert.equal(conv.end - conv.begin, 16 * 4 * 9 * 4);
  const last = Math.max(...[...header.tensors.values()].map((t) => t.end));
  assert.equal(last, header.fileSize);
  assert.equal((header.dataStart - 8) % 8, 0);
});

test('fp16 tensors read back equal to the fp32 file\'s values rounded to half precision', async () => {
  const name = 'first_stage_model.decoder.conv_in.weight';
  const f32 = await readTensorAsFloat32(await readSafetensorsHeader(FP32), name);
  const f16header = await readSafetensorsHeader(FP16);
  assert.equal(f16header.tensors.get(name)!.dtype, 'F16');
  const f16 = await readTensorAsFloat32(f16header, name);
  assert.equal(f16.length, f32.length);
  for (let i = 0; i < f32.length; i++) assert.ok(Math.abs(f16[i] - f32[i]) <= Math.abs(f32[i]) * 2 ** -11 + 1e-7, `element ${i}: ${f16[i]} vs ${f32[i]}`);
});

test('a file written by the streaming writer reads back tensor by tensor', async () => {
  const path = join(temporaryFolder(), 'w.safetensors');
  const specs = [{ name: 'a', dtype: 'F32' as const, shape: [2, 3] }, { name: 'b', dtype: 'F16' as const, shape: [3] }];
  await writeSafetensors(path, specs, (spec, bytes) => {
    if (spec.name === 'a') new Float32Array(bytes.buffer).set([1, 2, 3, 4, 5, 6]);
    else new Uint16Array(bytes.buffer).set([0x3c00, 0xc000, 0x3800]);
  });
  const header = await readSafetensorsHeader(path);
  assert.deepEqual([...await readTensorAsFloat32(header, 'a')], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...await readTensorAsFloat32(header, 'b')], [1, -2, 0.5]);
});

async function refusal(path: string): Promise<{ code: string; message: string }> {
  try {
    await readSafetensorsHeader(path);
  } catch (error) {
    assert.ok(isEaselError(error), String(error));
    return { code: error.code, message: error.message };
  }
  assert.fail(`${path} was accepted`);
}

test('a truncated checkpoint is refused before anything is built, naming the file', async () => {
  const path = join(temporaryFolder(), 'cut.safetensors');
  await copyFile(FP32, path);
  const { size } = await (await open(path)).stat();
  await truncate(path, size - 1000);
  const { code, message } = await refusal(path);
  assert.equal(code, 'CHECKPOINT_INVALID');
  assert.match(message, /cut\.safetensors is truncated/);
  await truncate(path, 100);
  assert.match((await refusal(path)).message, /truncated: its header needs/);
  await truncate(path, 3);
  assert.match((await refusal(path)).message, /truncated/);
});

test('offsets past the end, sizes that do not match the shape, overlaps and non-JSON headers are refused', async () => {
  const dir = temporaryFolder();
  const write = async (name: string, json: string, dataBytes: number) => {
    const body = Buffer.from(json);
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(body.length));
    await writeFile(join(dir, name), Buffer.concat([prefix, body, Buffer.alloc(dataBytes)]));
    return join(dir, name);
  };
  assert.match((await refusal(await write('past.safetensors', '{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', 8))).message, /truncated: tensor w ends at byte/);
  assert.match((await refusal(await write('size.safetensors', '{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}', 16))).message, /claims 12 bytes but its shape \[4\] of F32 needs 16/);
  assert.match((await refusal(await write('overlap.safetensors', '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', 12))).message, /overlap/);
  assert.match((await refusal(await write('json.safetensors', '{"w":', 0))).message, /header is not JSON/);
  assert.match((await refusal(await write('dtype.safetensors', '{"w":{"dtype":"Q4","shape":[4],"data_offsets":[0,4]}}', 4))).message, /unknown dtype/);
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(1n << 40n);
  await writeFile(join(dir, 'huge.safetensors'), huge);
  assert.match((await refusal(join(dir, 'huge.safetensors'))).message, /header length .* implausible/);
});

test('a .ckpt pickle is refused without being unpickled', async () => {
  const dir = temporaryFolder();
  await writeFile(join(dir, 'model.ckpt'), Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0]));
  await writeFile(join(dir, 'old.ckpt'), Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x28, 0x58, 0x05]));
  for (const name of ['model.ckpt', 'old.ckpt']) {
    const { code, message } = await refusal(join(dir, name));
    assert.equal(code, 'CHECKPOINT_UNSUPPORTED');
    assert.match(message, new RegExp(`${name.replace('.', '\\.')} is a (PyTorch|Python).*never unpickles`));
  }
});

test('family detection: the reference LDM checkpoint is SD 1.x; SD 2.x by OpenCLIP keys', async () => {
  const header = await readSafetensorsHeader(FP32);
  assert.deepEqual(detectFamily(FP32, header.tensors.keys()), {
    family: 'SD 1.x', prefixes: { unet: 'model.diffusion_model.', vae: 'first_stage_model.', textEncoder: 'cond_stage_model.transformer.text_model.' },
  });
  const sd2 = ['model.diffusion_model.input_blocks.0.0.weight', 'first_stage_model.decoder.conv_in.weight', 'cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight'];
  assert.equal(detectFamily('v2.safetensors', sd2).family, 'SD 2.x');
  assert.equal(detectFamily('v2.safetensors', sd2).prefixes.textEncoder, 'cond_stage_model.model.');
});

test('families Easel cannot build are refused with what they are', () => {
  const cases: Array<[string[], RegExp]> = [
    [['model.diffusion_model.label_emb.0.0.weight', 'conditioner.embedders.0.transformer.text_model.x', 'first_stage_model.decoder.conv_in.weight'], /is an SDXL checkpoint/],
    [['model.diffusion_model.joint_blocks.0.x.weight'], /Stable Diffusion 3/],
    [['double_blocks.0.img_attn.qkv.weight', 'single_blocks.0.linear1.weight'], /Flux/],
    [['lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight', 'lora_unet_down_blocks_0_attentions_0_proj_in.alpha'], /a LoRA, not a checkpoint/],
    [['lora_unet_down_blocks_0_attentions_0_proj_in.hada_w1_a'], /LyCORIS/],
    [['emb_params'], /textual-inversion embedding/],
    [['down_blocks.0.resnets.0.conv1.weight'], /one component of a diffusers model folder/],
    [['encoder.down.0.block.0.conv1.weight', 'decoder.up.0.block.0.conv1.weight'], /a VAE on its own/],
    [['model.diffusion_model.input_blocks.0.0.weight', 'cond_stage_model.transformer.text_model.encoder.layers.0.x'], /without a VAE/],
    [['model.diffusion_model.input_blocks.0.0.weight', 'first_stage_model.decoder.conv_in.weight'], /without a text encoder/],
    [['foo.weight'], /not a Stable Diffusion checkpoint/],
  ];
  for (const [keys, expected] of cases) {
    assert.throws(() => detectFamily('/x/some.safetensors', keys), (error: unknown) => isEaselError(error, 'CHECKPOINT_UNSUPPORTED') && expected.test(error.message) && error.message.startsWith('some.safetensors'), `${keys[0]} → ${expected}`);
  }
});

test('encodeSafetensorsHeader pads the JSON to 8 bytes and lays tensors out back to back', async () => {
  const { header, dataBytes } = encodeSafetensorsHeader([{ name: 'x', dtype: 'F16', shape: [3] }, { name: 'y', dtype: 'F32', shape: [1] }]);
  assert.equal((header.length - 8) % 8, 0);
  assert.equal(dataBytes, 10);
  const json = JSON.parse(header.subarray(8).toString());
  assert.deepEqual(json.y.data_offsets, [6, 10]);
  assert.equal(Number(header.readBigUInt64LE(0)), header.length - 8);
  assert.ok((await readFile(FP32)).length > 0);
});
