"""Makes test/reference/single_file_sd2/: a tiny SD 2.x-architecture checkpoint (one LDM-key .safetensors + .yaml,
seeded random weights) and the images the original reference code makes from it. See single_file_sd2/README.md.

Run with Debian's python3 (torch 1.13, torchvision, numpy, PIL, regex, yaml) and the unmodified sources of
diffusers v0.30.3 (src/diffusers), open_clip v2.20.0 (src/open_clip) and Stability-AI/stablediffusion (ldm/) on
PYTHONPATH:   /usr/bin/python3 sd2_single_file_reference.py SRC_DIR OUT_DIR
where SRC_DIR holds diffusers/, open_clip/, ldm/ and convert_diffusers_to_original_stable_diffusion.py (diffusers'
scripts/). Packages this machine cannot install are replaced by import-only stand-ins (see `_stand_ins`): nothing
numeric runs through them. torch.baddbmm is wrapped to honour beta=0 (see `_baddbmm_beta0`).
"""
import gzip
import importlib.machinery
import importlib.util
import json
import math
import os
import struct
import sys
import types

import numpy as np
import torch
import yaml
from PIL import Image

SRC, OUT = sys.argv[1], sys.argv[2]
sys.path.insert(0, SRC)


def _stand_ins(names):
    """huggingface_hub, safetensors, transformers, kornia, einops: imported by diffusers / ldm at module level but never
    called here (files are read and written below, models are built from local tensors). ftfy: open_clip's
    tokenizer calls ftfy.fix_text, which returns plain ASCII unchanged; the prompts here are ASCII (checked)."""

    class Stub(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            if name == "validate_hf_hub_args":
                return lambda fn: fn
            if name.startswith("is_") and name.endswith("_available"):
                return lambda *a, **k: False
            if name.endswith("Error"):
                return type(name, (Exception,), {})
            if name.isupper():
                return "/nonexistent"

            def fail(*a, **k):
                raise RuntimeError(f"stand-in {self.__name__}.{name} called")

            return type(name, (), {"__init__": fail}) if name[:1].isupper() else fail

    for mod in names:
        sys.modules[mod] = Stub(mod)
        sys.modules[mod].__spec__ = importlib.machinery.ModuleSpec(mod, None)
        sys.modules[mod].__version__ = "0.24.0" if mod == "huggingface_hub" else "0.4.0"
    if "transformers" not in names:
        return
    ftfy = types.ModuleType("ftfy")

    def fix_text(text):
        assert text.isascii(), "prompts must be ASCII (ftfy stand-in)"
        return text

    ftfy.fix_text = fix_text
    sys.modules["ftfy"] = ftfy


# diffusers sees huggingface_hub and safetensors (it requires them); transformers and kornia are added after it
# is imported, so that diffusers' is_transformers_available() stays False.
_stand_ins(["huggingface_hub", "huggingface_hub.constants", "huggingface_hub.utils", "huggingface_hub.file_download",
            "safetensors", "safetensors.torch"])
import diffusers  # noqa: E402
from diffusers import AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler, UNet2DConditionModel  # noqa: E402
from diffusers.loaders.single_file_utils import (  # noqa: E402
    convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint, create_unet_diffusers_config_from_ldm, create_vae_diffusers_config_from_ldm)

_stand_ins(["transformers", "kornia", "einops"])

# diffusers' AttnProcessor (torch < 2 has no scaled_dot_product_attention) calls torch.baddbmm(torch.empty(...), q,
# kᵀ, beta=0). With beta=0 the input is to be ignored, but for some small shapes (e.g. 4×6×6, the 128×192 mid block)
# this torch 1.13 build computes 0·input, so inf/NaN garbage in the empty tensor made whole images NaN now and then.
# Zeros in its place give what beta=0 promises: the images are bit-identical to the runs whose garbage was finite.
_baddbmm = torch.baddbmm


def _baddbmm_beta0(input, batch1, batch2, *, beta=1, alpha=1):
    return _baddbmm(torch.zeros_like(input) if beta == 0 else input, batch1, batch2, beta=beta, alpha=alpha)


torch.baddbmm = _baddbmm_beta0
import open_clip  # noqa: E402
from ldm.modules.encoders.modules import FrozenOpenCLIPEmbedder  # noqa: E402

_spec = importlib.util.spec_from_file_location("to_original", os.path.join(SRC, "convert_diffusers_to_original_stable_diffusion.py"))
to_original = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(to_original)

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER = os.path.join(HERE, "single_file", "diffusers-safetensors", "tokenizer")
NAME = "sd21-tiny-v"
YAML = f"""model:
  base_learning_rate: 1.0e-4
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    parameterization: "v"
    linear_start: 0.00085
    linear_end: 0.0120
    num_timesteps_cond: 1
    log_every_t: 200
    timesteps: 1000
    first_stage_key: "jpg"
    cond_stage_key: "txt"
    image_size: 64
    channels: 4
    cond_stage_trainable: false
    conditioning_key: crossattn
    monitor: val/loss_simple_ema
    scale_factor: 0.18215
    use_ema: False # we set this to false because this is an inference only config

    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        use_checkpoint: True
        use_fp16: True
        image_size: 32 # unused
        in_channels: 4
        out_channels: 4
        model_channels: 16
        attention_resolutions: [ 4, 2, 1 ]
        num_res_blocks: 2
        channel_mult: [ 1, 1, 2, 2 ]
        num_head_channels: 8
        use_spatial_transformer: True
        use_linear_in_transformer: True
        transformer_depth: 1
        context_dim: 32
        legacy: False
        norm_num_groups: 16   # tiny: LDM hard-codes GroupNorm(32)

    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4
        monitor: val/rec_loss
        ddconfig:
          double_z: true
          z_channels: 4
          resolution: 256
          in_channels: 3
          out_ch: 3
          ch: 16
          ch_mult:
          - 1
          - 1
          - 1
          - 1
          num_res_blocks: 2
          attn_resolutions: []
          dropout: 0.0
          norm_num_groups: 16   # tiny: LDM hard-codes GroupNorm(32)
        lossconfig:
          target: torch.nn.Identity

    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder
      params:
        freeze: True
        layer: "penultimate"
      tiny_text_encoder:   # tiny: instead of the pretrained OpenCLIP ViT-H/14 text tower
        width: 32
        heads: 2
        layers_in_file: 3
        activation: gelu
        vocab_size: 801
        context_length: 77
"""
# diffusers' stable-diffusion-2-1 scheduler_config.json (a DDIMScheduler config), with the timestep_spacing "leading"
# that DDIMScheduler registers and hands on to the scheduler made from its config (as Easel's import writes it).
SCHEDULER = {"timestep_spacing": "leading", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
             "num_train_timesteps": 1000, "prediction_type": "v_prediction", "set_alpha_to_one": False,
             "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None}
NEGATIVE = "worst quality, deformed, text, extra fingers"
CASES = [
    dict(id="sd2_v_euler_a_128", sampler="Euler a", schedule="automatic", seed=701, width=128, height=128,
         prompt="Portrait of a cat wearing a hat, oil painting -- golden hour, soft light"),
    dict(id="sd2_v_dpmpp2m_karras_128x192", sampler="DPM++ 2M", schedule="karras", seed=702, width=128, height=192,
         prompt="futuristic city skyline at night with neon lights; digital art (best quality) tram-kiosk?"),
    dict(id="sd2_v_ddim_192x128", sampler="DDIM", schedule="automatic", seed=703, width=192, height=128,
         prompt="a lighthouse on a rocky coast, storm clouds, dramatic"),
]
STEPS, CFG = 10, 7.5


# ---- safetensors (the format: 8-byte LE header length, JSON header, raw LE data) ----
def save_safetensors(path, tensors):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for key in sorted(tensors):
        data = tensors[key].detach().contiguous().to(torch.float32).numpy().astype("<f4").tobytes()
        header[key] = {"dtype": "F32", "shape": list(tensors[key].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        assert info["dtype"] == "F32"
        a, b = info["data_offsets"]
        out[key] = torch.from_numpy(np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").copy()).reshape(info["shape"])
    return out


# ---- seeded random weights, with norms randomised too, scaled for sensible activations ----
def randomise(module, seed, gain=1.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            leaf = name.rsplit(".", 1)[-1]
            parent = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
            if isinstance(parent, (torch.nn.LayerNorm, torch.nn.GroupNorm)):
                p.copy_((1.0 if leaf == "weight" else 0.0) + 0.2 * torch.randn(p.shape, generator=g))
            elif leaf.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif p.dim() >= 2:
                fan_in = p[0].numel() if "in_proj" not in leaf else p.shape[1]
                p.copy_(gain * torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def make_weights():
    original = yaml.safe_load(YAML)
    up = original["model"]["params"]["unet_config"]["params"]
    dd = original["model"]["params"]["first_stage_config"]["params"]["ddconfig"]
    tiny = original["model"]["params"]["cond_stage_config"]["tiny_text_encoder"]
    # OpenCLIP model built by open_clip's factory from a registered tiny config (ViT-H-14's structure: GELU, no
    # quick_gelu; the vision tower is deleted as FrozenOpenCLIPEmbedder does).
    open_clip.factory._MODEL_CONFIGS["tiny-sd2"] = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
        "text_cfg": {"context_length": tiny["context_length"], "vocab_size": tiny["vocab_size"], "width": tiny["width"],
                     "heads": tiny["heads"], "layers": tiny["layers_in_file"]},
    }
    clip = open_clip.create_model("tiny-sd2", pretrained=None)
    del clip.visual
    randomise(clip, 1)
    with torch.no_grad():
        clip.token_embedding.weight.mul_(32 ** 0.5)  # unit-variance token embeddings
    # diffusers models with the structure create_*_diffusers_config_from_ldm gives (group count from the tiny key).
    n_down = len(up["channel_mult"])
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=4, out_channels=4, layers_per_block=up["num_res_blocks"],
        block_out_channels=[up["model_channels"] * m for m in up["channel_mult"]],
        down_block_types=["CrossAttnDownBlock2D"] * (n_down - 1) + ["DownBlock2D"],
        up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * (n_down - 1),
        attention_head_dim=[up["model_channels"] // up["num_head_channels"] * m for m in up["channel_mult"]],
        cross_attention_dim=up["context_dim"], use_linear_projection=True, norm_num_groups=up["norm_num_groups"])
    randomise(unet, 2)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=dd["num_res_blocks"],
        block_out_channels=[dd["ch"] * m for m in dd["ch_mult"]], down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4, norm_num_groups=dd["norm_num_groups"], scaling_factor=0.18215)
    randomise(vae, 3)
    with torch.no_grad():
        vae.decoder.conv_out.weight.mul_(0.5)  # fewer clipped pixels
    state = {}
    for k, v in to_original.convert_unet_state_dict(unet.state_dict()).items():
        state["model.diffusion_model." + k] = v
    for k, v in to_original.convert_vae_state_dict(vae.state_dict()).items():
        state["first_stage_model." + k] = v
    for k, v in clip.state_dict().items():
        state["cond_stage_model.model." + k] = v
    return original, state, unet.state_dict(), vae.state_dict()


def load_from_single_file(path, original):
    """The checkpoint read back the way diffusers' single-file loader converts it; OpenCLIP as FrozenOpenCLIPEmbedder."""
    checkpoint = load_safetensors(path)
    up = original["model"]["params"]["unet_config"]["params"]
    dd = original["model"]["params"]["first_stage_config"]["params"]["ddconfig"]
    unet_config = create_unet_diffusers_config_from_ldm(original, checkpoint)
    unet_config["norm_num_groups"] = up["norm_num_groups"]  # tiny key; LDM's GroupNorm(32) otherwise
    unet = UNet2DConditionModel(**unet_config)
    unet.load_state_dict(convert_ldm_unet_checkpoint(checkpoint, unet_config), strict=True)
    vae_config = create_vae_diffusers_config_from_ldm(original, checkpoint)
    vae_config["norm_num_groups"] = dd["norm_num_groups"]
    vae = AutoencoderKL(**vae_config)
    vae.load_state_dict(convert_ldm_vae_checkpoint(checkpoint, vae_config), strict=True)
    tiny = original["model"]["params"]["cond_stage_config"]["tiny_text_encoder"]
    clip = open_clip.create_model("tiny-sd2", pretrained=None)
    del clip.visual
    prefix = "cond_stage_model.model."
    clip.load_state_dict({k[len(prefix):]: v for k, v in checkpoint.items() if k.startswith(prefix)}, strict=True)
    embedder = FrozenOpenCLIPEmbedder.__new__(FrozenOpenCLIPEmbedder)  # its __init__ downloads ViT-H-14
    torch.nn.Module.__init__(embedder)
    embedder.model, embedder.device, embedder.max_length = clip, "cpu", tiny["context_length"]
    embedder.layer = original["model"]["params"]["cond_stage_config"]["params"]["layer"]
    embedder.layer_idx = {"last": 0, "penultimate": 1}[embedder.layer]
    embedder.freeze()
    return unet.eval(), vae.eval(), embedder, unet_config, vae_config


def scheduler_for(case):
    if case["sampler"] == "Euler a":
        return EulerAncestralDiscreteScheduler.from_config(SCHEDULER)
    if case["sampler"] == "DPM++ 2M":
        return DPMSolverMultistepScheduler.from_config(SCHEDULER, use_karras_sigmas=case["schedule"] == "karras")
    if case["sampler"] == "DDIM":
        return DDIMScheduler.from_config(SCHEDULER)
    raise ValueError(case["sampler"])


@torch.no_grad()
def text_to_image(unet, vae, embedder, case):
    """diffusers' StableDiffusionPipeline.__call__ (v0.30.3) with FrozenOpenCLIPEmbedder as the text encoder."""
    scheduler = scheduler_for(case)
    embeds = torch.cat([embedder.encode([NEGATIVE]), embedder.encode([case["prompt"]])])
    generator = torch.Generator("cpu").manual_seed(case["seed"])
    latents = torch.randn((1, 4, case["height"] // 8, case["width"] // 8), generator=generator, dtype=torch.float32)
    scheduler.set_timesteps(STEPS)
    latents = latents * scheduler.init_noise_sigma
    extra = {"generator": generator, **({"eta": 0.0} if case["sampler"] == "DDIM" else {})}
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
        noise_pred = unet(model_input, t, encoder_hidden_states=embeds).sample
        uncond, text = noise_pred.chunk(2)
        noise_pred = uncond + CFG * (text - uncond)
        latents = scheduler.step(noise_pred, t, latents, **extra).prev_sample
    image = vae.decode(latents / vae.config.scaling_factor).sample
    image = (image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().numpy()[0]
    return (image * 255).round().astype("uint8")


def main():
    os.makedirs(os.path.join(OUT, "expected"), exist_ok=True)
    # open_clip's tokenizer with the tiny reference vocabulary (single_file's merges.txt without its final newline,
    # which open_clip would read as one more, empty merge): 512 byte tokens + 287 merges + 2 specials = 801.
    merges = open(os.path.join(TOKENIZER, "merges.txt"), encoding="utf-8").read().rstrip("\n")
    bpe = "/tmp/sd2ref-tiny-bpe.txt.gz"
    with gzip.open(bpe, "wb") as f:
        f.write(merges.encode("utf-8"))
    open_clip.tokenizer._tokenizer = open_clip.tokenizer.SimpleTokenizer(bpe_path=bpe)
    vocab = json.load(open(os.path.join(TOKENIZER, "vocab.json"), encoding="utf-8"))
    enc = open_clip.tokenizer._tokenizer.encoder
    assert len(enc) == len(vocab) == 801
    assert all(enc[k] == v for k, v in vocab.items() if not k.startswith("<|")), "same ids as vocab.json"

    original, state, unet_sd, vae_sd = make_weights()
    path = os.path.join(OUT, NAME + ".safetensors")
    save_safetensors(path, state)
    open(os.path.join(OUT, NAME + ".yaml"), "w").write(YAML)
    unet, vae, embedder, unet_config, vae_config = load_from_single_file(path, original)
    # The single file read back through diffusers' conversion gives the generated weights exactly.
    assert all(torch.equal(unet.state_dict()[k], unet_sd[k]) for k in unet_sd)
    assert all(torch.equal(vae.state_dict()[k], vae_sd[k]) for k in vae_sd)
    print("unet config", json.dumps({k: unet_config[k] for k in ("block_out_channels", "attention_head_dim", "use_linear_projection", "down_block_types", "norm_num_groups")}))
    print("tensors", len(state), "parameters", sum(v.numel() for v in state.values()))

    cases = []
    for case in CASES:
        ids = open_clip.tokenize([case["prompt"]])[0]
        assert int((ids != 0).sum()) < 77
        rgb = text_to_image(unet, vae, embedder, case)
        assert 0 < rgb.mean() < 255, case["id"]
        Image.fromarray(rgb).save(os.path.join(OUT, "expected", case["id"] + ".png"))
        print(case["id"], "mean", rgb.mean(), "std", rgb.std(), "saturated", float(((rgb == 0) | (rgb == 255)).mean()))
        if os.environ.get("PLANTS"):
            for plant in ("quick_gelu", "last", "pad_eot", "epsilon"):
                alt = plant_variant(unet, vae, embedder, case, plant)
                d = np.abs(alt.astype(int) - rgb.astype(int))
                print("   plant", plant, "mean", d.mean(), "max", d.max())
        cases.append({"id": case["id"], "model": NAME + ".safetensors", "weights": "fp32", "prompt": case["prompt"], "negative": NEGATIVE,
                      "sampler": case["sampler"], "schedule": case["schedule"], "steps": STEPS, "cfg": CFG, "seed": case["seed"],
                      "width": case["width"], "height": case["height"], "expected": f"expected/{case['id']}.png"})
    json.dump({"topic": "single_file_sd2", "tolerance": {"mean": 0.02, "max": 3}, "cases": cases},
              open(os.path.join(OUT, "cases.json"), "w"), indent=2)
    print("diffusers", diffusers.__version__, "torch", torch.__version__)


def plant_variant(unet, vae, embedder, case, plant):
    """The image one wrong choice gives (to check that the reference separates it), restoring the embedder after."""
    import copy
    global SCHEDULER
    e = copy.deepcopy(embedder)
    saved = SCHEDULER
    tok = open_clip.tokenizer.tokenize
    try:
        if plant == "quick_gelu":
            for r in e.model.transformer.resblocks:
                r.mlp.gelu = open_clip.model.QuickGELU()
        elif plant == "last":
            e.layer_idx = 0
        elif plant == "pad_eot":
            eot = open_clip.tokenizer._tokenizer.encoder["<end_of_text>"]

            def padded(texts, context_length=77):
                ids = tok(texts, context_length)
                ids[ids == 0] = eot
                return ids

            open_clip.tokenize = padded
        elif plant == "epsilon":
            SCHEDULER = {**saved, "prediction_type": "epsilon"}
        return text_to_image(unet, vae, e, case)
    finally:
        SCHEDULER = saved
        open_clip.tokenize = tok


if __name__ == "__main__":
    main()
