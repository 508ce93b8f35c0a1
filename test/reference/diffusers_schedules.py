"""Timesteps and sigmas from diffusers' scheduler formulas, transcribed with numpy (float32 where
diffusers holds torch float32 tensors). Run `python3 diffusers_schedules.py > diffusers_schedules.json`
to regenerate the reference that test/unit/samplers.test.ts compares against."""
import json
import numpy as np

T = 1000


def alphas_cumprod(schedule="scaled_linear", beta_start=0.00085, beta_end=0.012):
    if schedule == "scaled_linear":
        betas = np.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=np.float64).astype(np.float32) ** 2
    else:
        betas = np.linspace(beta_start, beta_end, T, dtype=np.float64).astype(np.float32)
    alphas = (1.0 - betas).astype(np.float32)
    return np.cumprod(alphas.astype(np.float64)).astype(np.float32)


def convert_to_karras(in_sigmas, n):
    sigma_min, sigma_max = float(in_sigmas[-1]), float(in_sigmas[0])
    rho = 7.0
    ramp = np.linspace(0, 1, n)
    return (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho


def sigma_to_t(sigma, log_sigmas):
    log_sigma = np.log(np.maximum(sigma, 1e-10))
    dists = log_sigma - log_sigmas[:, np.newaxis]
    low_idx = np.cumsum((dists >= 0), axis=0).argmax(axis=0).clip(max=log_sigmas.shape[0] - 2)
    high_idx = low_idx + 1
    low, high = log_sigmas[low_idx], log_sigmas[high_idx]
    w = np.clip((low - log_sigma) / (low - high), 0, 1)
    return ((1 - w) * low_idx + w * high_idx).reshape(sigma.shape)


def euler(n, spacing, karras, offset=1):
    ac = alphas_cumprod()
    if spacing == "linspace":
        timesteps = np.linspace(0, T - 1, n, dtype=np.float32)[::-1].copy()
    elif spacing == "leading":
        ratio = T // n
        timesteps = (np.arange(0, n) * ratio).round()[::-1].copy().astype(np.float32) + offset
    else:
        ratio = T / n
        timesteps = np.arange(T, 0, -ratio).round().copy().astype(np.float32) - 1
    sigmas = np.array(((1 - ac) / ac) ** 0.5)
    log_sigmas = np.log(sigmas)
    sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
    if karras:
        sigmas = convert_to_karras(sigmas, n)
        timesteps = np.array([sigma_to_t(np.array(s), log_sigmas) for s in sigmas])
    sigmas = np.concatenate([sigmas, [0.0]]).astype(np.float32)
    init = float(sigmas.max()) if spacing in ("linspace", "trailing") else float((sigmas.max() ** 2 + 1) ** 0.5)
    return timesteps, sigmas, init


def dpm(n, spacing, karras, offset=1):
    ac = alphas_cumprod()
    if spacing == "linspace":
        timesteps = np.linspace(0, T - 1, n + 1).round()[::-1][:-1].copy().astype(np.int64)
    elif spacing == "leading":
        ratio = T // (n + 1)
        timesteps = (np.arange(0, n + 1) * ratio).round()[::-1][:-1].copy().astype(np.int64) + offset
    else:
        ratio = T / n
        timesteps = np.arange(T, 0, -ratio).round().copy().astype(np.int64) - 1
    sigmas = np.array(((1 - ac) / ac) ** 0.5)
    log_sigmas = np.log(sigmas)
    if karras:
        sigmas = np.flip(sigmas).copy()
        sigmas = convert_to_karras(sigmas, n)
        timesteps = np.array([sigma_to_t(np.array(s), log_sigmas) for s in sigmas]).round()
    else:
        sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
    sigmas = np.concatenate([sigmas, [0.0]]).astype(np.float32)
    return timesteps, sigmas, 1.0


def ddim(n, spacing, offset=1):
    if spacing == "linspace":
        return np.linspace(0, T - 1, n).round()[::-1].copy().astype(np.int64)
    if spacing == "leading":
        ratio = T // n
        return (np.arange(0, n) * ratio).round()[::-1].copy().astype(np.int64) + offset
    return np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1


def plms(n, offset=1):
    ratio = T // n
    ts = (np.arange(0, n) * ratio).round() + offset
    return np.concatenate([ts[:-1], ts[-2:-1], ts[-1:]])[::-1].copy().astype(np.int64)


def lcm(n, original=50):
    k = T // original
    origin = np.asarray(list(range(1, original + 1))) * k - 1
    origin = origin[::-1].copy()
    idx = np.floor(np.linspace(0, len(origin), num=n, endpoint=False)).astype(np.int64)
    return origin[idx]


cases = []
for spacing in ("leading", "linspace", "trailing"):
    for n in (1, 4, 20, 30):
        for karras in (False, True):
            t, s, init = euler(n, spacing, karras)
            cases.append({"sampler": "Euler", "spacing": spacing, "steps": n, "karras": karras,
                          "timesteps": [float(x) for x in t], "sigmas": [float(x) for x in s], "init": init})
            t, s, init = dpm(n, spacing, karras)
            cases.append({"sampler": "DPM++ 2M", "spacing": spacing, "steps": n, "karras": karras,
                          "timesteps": [float(x) for x in t], "sigmas": [float(x) for x in s], "init": init})
        cases.append({"sampler": "DDIM", "spacing": spacing, "steps": n, "karras": False,
                      "timesteps": [float(x) for x in ddim(n, spacing)]})
for n in (2, 4, 20, 50):
    cases.append({"sampler": "PLMS", "spacing": "leading", "steps": n, "karras": False,
                  "timesteps": [float(x) for x in plms(n)]})
for n in (1, 2, 4, 8):
    cases.append({"sampler": "LCM", "spacing": "leading", "steps": n, "karras": False,
                  "timesteps": [float(x) for x in lcm(n)]})
ac = alphas_cumprod()
print(json.dumps({"source": "diffusers scheduler formulas transcribed with numpy; SD 1.x betas (scaled_linear 0.00085..0.012)",
                  "alphas_cumprod": {str(i): float(ac[i]) for i in (0, 1, 499, 500, 998, 999)},
                  "cases": cases}, indent=0))
