/**
 * Typed readers over a raw config.json object for model-config.ts: each getter validates one key
 * and throws XdsError('invalid_config') naming it. Also the RoPE block, in every spelling of
 * MODELS.md §8.1 #18 (`rope_scaling` vs `rope_parameters`, `type` vs `rope_type`, `rope_theta` at
 * top level or inside `rope_parameters`), parsed into a RopeScaling (MODELS.md §2.1, §5).
 */

import { XdsError } from '../core/errors.js';
import type { RopeScaling } from './model-spec.js';

type Raw = Record<string, unknown>;

function bad(param: string, what: string, value: unknown): XdsError {
  return new XdsError('invalid_config', `config.json: ${param} must be ${what} (got ${JSON.stringify(value)})`, { param });
}

/** Key readers; `prefix` names nested objects in messages (e.g. `rope_scaling.`). */
export class Cfg {
  constructor(readonly raw: Raw, private readonly prefix = '') {}

  private name(key: string): string {
    return this.prefix + key;
  }

  number(key: string): number {
    const v = this.raw[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(this.name(key), 'a finite number', v);
    return v;
  }

  posNumber(key: string): number {
    const v = this.number(key);
    if (v <= 0) throw bad(this.name(key), 'a positive number', v);
    return v;
  }

  optPosNumber(key: string, dflt: number): number {
    return this.raw[key] == null ? dflt : this.posNumber(key);
  }

  optNumberOrNull(key: string): number | null {
    return this.raw[key] == null ? null : this.number(key);
  }

  nonNegInt(key: string): number {
    const v = this.raw[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(this.name(key), 'a non-negative integer', v);
    return v;
  }

  posInt(key: string): number {
    const v = this.raw[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw bad(this.name(key), 'a positive integer', v);
    return v;
  }

  optPosInt(key: string, dflt: number): number {
    return this.raw[key] == null ? dflt : this.posInt(key);
  }

  optNonNegInt(key: string, dflt: number): number {
    return this.raw[key] == null ? dflt : this.nonNegInt(key);
  }

  optIntOrNull(key: string): number | null {
    return this.raw[key] == null ? null : this.nonNegInt(key);
  }

  optBool(key: string, dflt: boolean): boolean {
    const v = this.raw[key];
    if (v == null) return dflt;
    if (typeof v !== 'boolean') throw bad(this.name(key), 'true or false', v);
    return v;
  }

  optString(key: string): string | null {
    const v = this.raw[key];
    if (v == null) return null;
    if (typeof v !== 'string') throw bad(this.name(key), 'a string', v);
    return v;
  }

  /** A list of non-negative integers, [] when absent. */
  optIntArray(key: string): number[] {
    const v = this.raw[key];
    if (v == null) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
      throw bad(this.name(key), 'an array of non-negative integers', v);
    }
    return v as number[];
  }

  /** `eos_token_id`: a number, an array of numbers, or absent (→ []). */
  intOrIntArray(key: string): number[] {
    const v = this.raw[key];
    if (v == null) return [];
    if (typeof v === 'number') return [this.nonNegInt(key)];
    return this.optIntArray(key);
  }
}

/** The RoPE parameter object under either spelling, and the key it came from; null when absent. */
function ropeBlock(cfg: Cfg): { block: Raw; key: string } | null {
  for (const key of ['rope_scaling', 'rope_parameters']) {
    const v = cfg.raw[key];
    if (v == null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) throw bad(key, 'an object or null', v);
    return { block: v as Raw, key };
  }
  return null;
}

/** Per-layer-type RoPE blocks ({full_attention: {…}, …}) are not supported: detect them to reject. */
function hasNested(block: Raw): boolean {
  return Object.values(block).some((v) => v !== null && typeof v === 'object');
}

/** rope_theta at the top level, or inside rope_parameters / rope_scaling (newer transformers). */
export function ropeTheta(cfg: Cfg, dflt: number): number {
  if (cfg.raw['rope_theta'] != null) return cfg.posNumber('rope_theta');
  const rb = ropeBlock(cfg);
  if (rb !== null && rb.block['rope_theta'] != null) return new Cfg(rb.block, `${rb.key}.`).posNumber('rope_theta');
  return dflt;
}

/** Parse the scaling part of the RoPE block; `maxPos` is the default original context of YaRN. */
export function parseRopeScaling(cfg: Cfg, maxPos: number): RopeScaling {
  const rb = ropeBlock(cfg);
  if (rb === null) return { kind: 'none' };
  const r = new Cfg(rb.block, `${rb.key}.`);
  const typeKey = rb.block['rope_type'] != null ? 'rope_type' : 'type';
  const type = r.optString(typeKey) ?? (rb.key === 'rope_parameters' && !hasNested(rb.block) ? 'default' : null);
  switch (type) {
    case 'default': return { kind: 'none' };
    case 'linear': return { kind: 'linear', factor: r.posNumber('factor') };
    case 'llama3': return {
      kind: 'llama3', factor: r.posNumber('factor'), lowFreqFactor: r.posNumber('low_freq_factor'),
      highFreqFactor: r.posNumber('high_freq_factor'), originalMaxPositions: r.posInt('original_max_position_embeddings'),
    };
    case 'yarn': return parseYarn(r, maxPos);
    default: throw new XdsError('invalid_config',
      `config.json: ${rb.key}.${typeKey} ${JSON.stringify(type)} is not supported (supported: default, linear, llama3, yarn)`,
      { param: `${rb.key}.${typeKey}` });
  }
}

function parseYarn(r: Cfg, maxPos: number): RopeScaling {
  const mscale = r.optNumberOrNull('mscale');
  const mscaleAllDim = r.optNumberOrNull('mscale_all_dim');
  return {
    kind: 'yarn', factor: r.posNumber('factor'),
    originalMaxPositions: r.optPosInt('original_max_position_embeddings', maxPos),
    betaFast: r.optPosNumber('beta_fast', 32), betaSlow: r.optPosNumber('beta_slow', 1),
    mscale, mscaleAllDim, attentionFactor: r.optNumberOrNull('attention_factor'),
  };
}
