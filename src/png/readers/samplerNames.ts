import type { SamplerName, ScheduleType } from '../../shared/names.ts';

/** Other tools' sampler identifiers (ComfyUI, InvokeAI, NovelAI, Fooocus) mapped to A1111's names. */
const SAMPLER_ALIASES: Record<string, { sampler: SamplerName; schedule?: ScheduleType }> = {
  euler: { sampler: 'Euler' },
  k_euler: { sampler: 'Euler' },
  euler_a: { sampler: 'Euler a' },
  euler_ancestral: { sampler: 'Euler a' },
  k_euler_ancestral: { sampler: 'Euler a' },
  dpmpp_2m: { sampler: 'DPM++ 2M' },
  k_dpmpp_2m: { sampler: 'DPM++ 2M' },
  dpmpp_2m_k: { sampler: 'DPM++ 2M', schedule: 'Karras' },
  ddim: { sampler: 'DDIM' },
  pndm: { sampler: 'PLMS' },
  plms: { sampler: 'PLMS' },
  lcm: { sampler: 'LCM' },
};

export function mapSamplerAlias(name: string | undefined): { sampler: SamplerName; schedule?: ScheduleType } | undefined {
  return name === undefined ? undefined : SAMPLER_ALIASES[name.trim().toLowerCase()];
}

export function mapScheduleAlias(name: string | undefined): ScheduleType | undefined {
  const key = name?.trim().toLowerCase();
  if (key === 'karras') return 'Karras';
  if (key === 'normal' || key === 'native' || key === 'automatic' || key === 'default') return 'Automatic';
  return undefined;
}
