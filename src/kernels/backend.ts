/**
 * The ComputeBackend contract (ARCHITECTURE.md "Kernels"). Everything that computes goes through
 * one of these, so the reference (plain TypeScript), the native addon and the simulator's null
 * backend are interchangeable. Every buffer is a typed-array *view* (possibly a subarray of a
 * SharedArrayBuffer holding weights, activations or KV blocks): implementations read and write in
 * place and never keep references after returning. Outputs never alias inputs unless a method
 * says so. All activations are f32.
 */

import type { RouterSpec } from '../config/model-spec.js';

/** A linear layer's weight, [outDim, inDim] row-major: y[o] = Σ_i W[o,i]·x[i] (+ bias[o]). */
export type LinearWeight =
  | { readonly format: 'f32'; readonly outDim: number; readonly inDim: number; readonly data: Float32Array; readonly bias?: Float32Array }
  | { readonly format: 'bf16'; readonly outDim: number; readonly inDim: number; readonly data: Uint16Array; readonly bias?: Float32Array }
  | {
      readonly format: 'int8';
      readonly outDim: number;
      readonly inDim: number;
      /** [outDim, inDim] int8 */
      readonly data: Int8Array;
      /** [outDim, inDim / groupSize] f32: W[o,i] ≈ data[o,i] · scales[o, ⌊i/groupSize⌋] */
      readonly scales: Float32Array;
      /** inDim for per-output-channel scales, or 32 for per-32-block scales. */
      readonly groupSize: number;
      readonly bias?: Float32Array;
    };

/** RoPE frequencies (MODELS.md §1.3, §5); angles are f32(pos · invFreq[i]), cos/sin × attentionFactor. */
export interface RopeTable {
  /** [dim/2] f32, already scaled (llama3 / YaRN / linear). */
  readonly invFreq: Float32Array;
  /** cos/sin magnitude factor (YaRN "attention_factor"); 1 otherwise. */
  readonly attentionFactor: number;
  readonly layout: 'halves' | 'interleaved';
  /** Rotary width dr = 2 · invFreq.length. */
  readonly dim: number;
}

/**
 * Several sequences in one paged-attention call (optional; absent = one sequence whose rows are
 * all of `positions` and whose table is all of `blockTable`). Sequence s owns query rows
 * firstRow[s] … firstRow[s]+numRows[s]−1 of q, out and positions (ranges in increasing order, not
 * overlapping; rows outside every range are neither read nor written) and reads the block table
 * blockTable[tableStart[s] … tableStart[s+1]).
 */
export interface PagedSeqs {
  /** [S] first query row of each sequence. */
  readonly firstRow: Int32Array;
  /** [S] query rows of each sequence (≥ 0). */
  readonly numRows: Int32Array;
  /** [S+1] non-decreasing, ≥ 0, last ≤ blockTable.length: offsets of each sequence's table. */
  readonly tableStart: Int32Array;
}

/**
 * A KV cache layer's values: f32, or bf16 bits (`--kv-cache-dtype bfloat16`: half the bytes; a
 * kernel reads each element widened to f32, so it computes what the f32 form of the same values
 * would).
 */
export type KvArray = Float32Array | Uint16Array;

/** Paged causal attention for one sequence (or several, see `seqs`): queries at absolute `positions` see cached positions ≤ their own. */
export interface PagedAttentionArgs {
  /** [numTokens, numHeads, headDim] f32 (RoPE already applied). */
  readonly q: Float32Array;
  /** [numTokens, numHeads, headDimV] f32, written. */
  readonly out: Float32Array;
  /** One layer's key blocks: [numBlocks, blockSizeTokens, numKvHeads, headDim] (KvArray: f32 or bf16 bits). */
  readonly kCache: KvArray;
  /** One layer's value blocks: [numBlocks, blockSizeTokens, numKvHeads, headDimV], the same form as kCache. */
  readonly vCache: KvArray;
  /** Logical block b of this sequence lives in physical block blockTable[b]. */
  readonly blockTable: Int32Array;
  /** [numTokens] absolute position of each query. */
  readonly positions: Int32Array;
  readonly numHeads: number;
  /** Query head h reads KV head ⌊h / (numHeads/numKvHeads)⌋ (HF repeat_kv). */
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly headDimV: number;
  readonly blockSizeTokens: number;
  readonly scale: number;
  /** 0 = full causal; W > 0: a query at P sees only positions > P − W. */
  readonly slidingWindow: number;
  /** Several sequences in one call (blockTable then holds all their tables back to back). */
  readonly seqs?: PagedSeqs;
}

/**
 * The MLA weight absorption done inside pagedMlaAttention (MODELS.md §4.4): per row and head,
 * q̃_h = W_UK[h]ᵀ q_nope_h before the latent attention and o_h = W_UV[h] ctx_h after it.
 */
export interface MlaAbsorb {
  /** [H, R, dn] f32: W_UK[h]ᵀ per head (kv_b_proj rows h·(dn+dv) … h·(dn+dv)+dn−1, transposed). */
  readonly ukT: Float32Array;
  /** kv_b_proj [H·(dn+dv), R] in any format: W_UV[h] = rows h·(dn+dv)+dn … h·(dn+dv)+dn+dv−1. */
  readonly kvB: LinearWeight;
  /** dn */
  readonly qkNopeHeadDim: number;
  /** dv */
  readonly vHeadDim: number;
}

/**
 * Absorbed MLA decode attention for one sequence (or several, see `seqs`; MODELS.md §4.4):
 * multi-query attention with one shared key [c ‖ k_pe] (R + dr wide) and value c (the first R
 * channels of the same cache row). With `absorb`, q holds [q_nope_h ‖ q_pe_h] and out o_h instead.
 */
export interface PagedMlaArgs {
  /** [numTokens, numHeads, R + dr] f32: [q̃_h ‖ q_pe_h]; with `absorb`: [numTokens, numHeads, dn + dr] [q_nope_h ‖ q_pe_h] (RoPE applied). */
  readonly q: Float32Array;
  /** [numTokens, numHeads, R] f32, written: ctx_h; with `absorb`: [numTokens, numHeads, dv] o_h. */
  readonly out: Float32Array;
  /** One layer's latent blocks: [numBlocks, blockSizeTokens, R + dr] (normalized c, rotated k_pe; KvArray). */
  readonly latentCache: KvArray;
  readonly blockTable: Int32Array;
  readonly positions: Int32Array;
  readonly numHeads: number;
  readonly kvLoraRank: number;
  readonly ropeDim: number;
  readonly blockSizeTokens: number;
  readonly scale: number;
  /** Several sequences in one call (blockTable then holds all their tables back to back). */
  readonly seqs?: PagedSeqs;
  /** The W_UK / W_UV products done in the same call. */
  readonly absorb?: MlaAbsorb;
}

/** One SiLU-GLU expert (MODELS.md §1.2): gate/up [I, D], down [D, I]; MoE experts and the dense MLP. */
export interface ExpertWeights { readonly gate: LinearWeight; readonly up: LinearWeight; readonly down: LinearWeight }

/**
 * All routed experts of one MoE layer (MODELS.md §3, §4.5; paper §2.1 "moe"), tokens already grouped
 * by expert (units/moe/moe.ts groupByExpert): entries offsets[e] … offsets[e+1]−1 belong to expert e.
 * out[t] = Σ over t's entries j, in increasing j (= expert order): weights[j] · Expert_e(x[t]),
 * summed into a zeroed row in f32; tokens with no entry get 0. The shared expert is not included.
 */
export interface MoeExpertsArgs {
  /** [numTokens, D] f32 token rows. */
  readonly x: Float32Array;
  /** [numTokens, D] f32, overwritten; must not alias x. */
  readonly out: Float32Array;
  readonly numTokens: number;
  /** [E + 1] non-decreasing, offsets[0] = 0. */
  readonly offsets: Int32Array;
  /** [offsets[E]] token row (0 … numTokens−1) of each entry. */
  readonly rows: Int32Array;
  /** [offsets[E]] f32 combine weight of each entry. */
  readonly weights: Float32Array;
  /** [E] the experts: gate/up [I_e, D], down [D, I_e], one D (widths I_e may differ). */
  readonly experts: readonly ExpertWeights[];
}

/**
 * The MoE router over a step's tokens (MODELS.md §3.1, §3.2, §4.5): units/moe/router.ts
 * routeTokens defines the result (same f64 arithmetic and tie rules).
 */
export interface MoeRouteArgs {
  /** [numTokens, numExperts] f32 router logits. */
  readonly logits: Float32Array;
  readonly numTokens: number;
  readonly numExperts: number;
  readonly k: number;
  readonly spec: RouterSpec;
  /** [numExperts] noaux_tc correction bias, or null. */
  readonly bias: Float32Array | null;
  /** [numTokens, k] out: expert ids in descending order of choice score. */
  readonly experts: Int32Array;
  /** [numTokens, k] out: combine weights. */
  readonly weights: Float32Array;
}

export interface ComputeBackend {
  readonly name: string;
  /** y[rows, outDim] = x[rows, inDim] · Wᵀ (+ bias). */
  matmul(x: Float32Array, w: LinearWeight, y: Float32Array, rows: number): void;
  /** y[r] = w ⊙ x[r] / rms(x[r]); y may be x (in place). x, y: [rows, dim]. */
  rmsNorm(x: Float32Array, weight: Float32Array, eps: number, y: Float32Array, rows: number, dim: number): void;
  /** out[i] = silu(gate[i]) · up[i] for i < n; out may alias gate. */
  siluMul(gate: Float32Array, up: Float32Array, out: Float32Array, n: number): void;
  /**
   * In-place RoPE on x viewed as [rows, rowStride]: for each row r and head h < numHeads, the
   * rotary channels x[r·rowStride + h·headStride + offset … + dim) rotate by positions[r].
   */
  rope(x: Float32Array, rows: number, rowStride: number, numHeads: number, headStride: number, offset: number, positions: Int32Array, table: RopeTable): void;
  /** In-place softmax over each of `rows` rows of width n (max-subtracted). */
  softmax(x: Float32Array, rows: number, n: number): void;
  pagedAttention(args: PagedAttentionArgs): void;
  pagedMlaAttention(args: PagedMlaArgs): void;
  /**
   * Optional: all routed experts of a MoE layer in one call (see MoeExpertsArgs). A backend without
   * it is driven expert by expert through matmul/siluMul (kernels/moe-experts.ts moeExpertsLoop),
   * which defines the result.
   */
  moeExperts?(args: MoeExpertsArgs): void;
  /**
   * Optional: h[i] += y[i] for i < n, in f32 (the residual adds of a decoder block). Without it the
   * caller loops in TypeScript (~3 ns per element: 1.6 ms per batch-32 step of the `small` preset).
   */
  add?(h: Float32Array, y: Float32Array, n: number): void;
  /**
   * Optional: dst[dstOffset + i] = bf16 bits of src[i], rounded to nearest even (core/dtype.ts
   * f32ArrayToBf16, which callers use without it: ~3.5 ns per element, ~0.3 ms of a batch-32 step
   * of the `small` preset writing its bf16 latent cache).
   */
  toBf16?(src: Float32Array, dst: Uint16Array, dstOffset: number): void;
  /** Optional: the MoE router in one call (see MoeRouteArgs); without it units/moe/router.ts runs. */
  moeRoute?(args: MoeRouteArgs): void;
}
