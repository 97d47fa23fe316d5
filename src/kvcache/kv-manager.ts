/**
 * KvManager: the RTC's block accounting for one DP group (paper notes §1.2 "RTC", §2.9). It owns
 * a BlockPool (refcounts, eviction-ordered free list) and a PrefixCache (hash chain over full
 * blocks), keeps one block table per sequence, and reports KV usage and the prefix hit rate
 * (the statistics the DP load balancer and the prefill cost model read, §2.5.2).
 * Pure bookkeeping: the KV tensors live in kv-storage.ts; the scheduler decides, this only counts.
 *
 * Sequence lifecycle: findCachedPrefix (pure) → allocateSlots(id, n, prefix) on admission →
 * allocateSlots(id, n) each step → cacheComputed after the step → free.
 */
import { assert } from '../core/assert.js';
import { XdsError } from '../core/errors.js';
import { BlockPool } from './block-pool.js';
import { PrefixCache, hashBlock, type BlockHash } from './prefix-cache.js';

export interface KvManagerConfig {
  readonly numBlocks: number;
  readonly blockSizeTokens: number;
  /** Default true. */
  readonly enablePrefixCache?: boolean;
}

/** The cached full blocks at the start of a token sequence (result of findCachedPrefix). */
export interface CachedPrefix {
  readonly blockIds: readonly number[];
  readonly hashes: readonly BlockHash[];
  /** Tokens covered: blockIds.length × blockSizeTokens. */
  readonly numTokens: number;
}

export interface KvStats {
  readonly numBlocks: number;
  /** Refcount-0 blocks, including evictable cached ones. */
  readonly numFreeBlocks: number;
  readonly numCachedBlocks: number;
  /** 1 − free / total. */
  readonly usage: number;
  /** Tokens looked up in the prefix cache on admission (a preempted request's re-admission counts again). */
  readonly numQueriedTokens: number;
  /** Of those, tokens found cached. */
  readonly numHitTokens: number;
  /** numHitTokens / numQueriedTokens (0 before any query). */
  readonly prefixHitRate: number;
}

interface SeqState {
  readonly blockIds: number[]; // logical block i → physical block
  readonly hashes: BlockHash[]; // hash of each full block registered so far (prefix of blockIds)
  table: Int32Array | null; // [blockIds.length] snapshot handed to the runner
}

/** No cached blocks: an admission with it computes the whole sequence. */
export const EMPTY_PREFIX: CachedPrefix = Object.freeze({ blockIds: [], hashes: [], numTokens: 0 });

export class KvManager {
  readonly blockSizeTokens: number;
  readonly isPrefixCacheEnabled: boolean;
  private readonly pool: BlockPool;
  private readonly cache = new PrefixCache();
  private readonly seqs = new Map<string, SeqState>();
  private numQueriedTokens = 0;
  private numHitTokens = 0;

  constructor(config: KvManagerConfig) {
    const bs = config.blockSizeTokens;
    if (!Number.isInteger(bs) || bs < 1) {
      throw new XdsError('invalid_config', `blockSizeTokens must be a positive integer, got ${bs}`, { param: 'blockSizeTokens' });
    }
    this.blockSizeTokens = bs;
    this.pool = new BlockPool(config.numBlocks);
    this.isPrefixCacheEnabled = config.enablePrefixCache ?? true;
  }

  get numBlocks(): number {
    return this.pool.numBlocks;
  }

  get numFreeBlocks(): number {
    return this.pool.numFree;
  }

  get numSeqs(): number {
    return this.seqs.size;
  }

  /** Blocks needed to hold `numTokens` positions. */
  blocksFor(numTokens: number): number {
    return Math.ceil(numTokens / this.blockSizeTokens);
  }

  /** False when `numTokens` positions exceed the whole pool: such a sequence can never run. */
  canEverFit(numTokens: number): boolean {
    return this.blocksFor(numTokens) <= this.pool.numBlocks;
  }

  has(seqId: string): boolean {
    return this.seqs.has(seqId);
  }

  /**
   * Longest chain of cached full blocks at the start of `tokenIds` ([numTokens] i32), leaving at
   * least the last token uncovered so the step that computes it produces logits. No side effects.
   */
  findCachedPrefix(tokenIds: ArrayLike<number>): CachedPrefix {
    if (!this.isPrefixCacheEnabled) return EMPTY_PREFIX;
    const bs = this.blockSizeTokens;
    const maxBlocks = Math.floor((tokenIds.length - 1) / bs);
    const blockIds: number[] = [];
    const hashes: BlockHash[] = [];
    let parent: BlockHash | null = null;
    for (let i = 0; i < maxBlocks; i++) {
      const tokens = sliceOf(tokenIds, i * bs, (i + 1) * bs);
      const h = hashBlock(parent, tokens);
      const b = this.cache.lookup(h, parent, tokens);
      if (b === undefined) break;
      blockIds.push(b);
      hashes.push(h);
      parent = h;
    }
    return { blockIds, hashes, numTokens: blockIds.length * bs };
  }

  /**
   * Makes the sequence's blocks cover positions [0, numTokensAfter). On admission pass the
   * CachedPrefix found for it (its blocks are shared, refcount +1, and the lookup is counted in
   * the hit-rate statistics with `numQueriedTokens`). Returns false, changing nothing, when there
   * are not enough free blocks.
   */
  allocateSlots(seqId: string, numTokensAfter: number, admit?: { prefix: CachedPrefix; numQueriedTokens: number }): boolean {
    const seq = this.seqs.get(seqId);
    if (seq !== undefined && admit === undefined && this.blocksFor(numTokensAfter) <= seq.blockIds.length) return true; // fast path
    assert(seq !== undefined || admit !== undefined, () => `allocateSlots for unknown sequence ${seqId} without admission`);
    assert(seq === undefined || admit === undefined, () => `sequence ${seqId} admitted twice`);
    const prefix = admit?.prefix ?? EMPTY_PREFIX;
    const numHeld = (seq?.blockIds.length ?? 0) + prefix.blockIds.length;
    const numNew = Math.max(0, this.blocksFor(numTokensAfter) - numHeld);
    const numPrefixFree = prefix.blockIds.reduce((n, b) => n + (this.pool.isInFreeList(b) ? 1 : 0), 0);
    if (numNew > this.pool.numFree - numPrefixFree) return false;
    const state = seq ?? this.admit(seqId, prefix, admit?.numQueriedTokens ?? 0);
    for (let i = 0; i < numNew; i++) state.blockIds.push(this.allocateBlock());
    return true;
  }

  /**
   * Registers the sequence's full blocks whose tokens are all computed (after a step). Reads only
   * tokenIds[0, numComputedTokens), so a request may pass its whole token buffer.
   */
  cacheComputed(seqId: string, tokenIds: ArrayLike<number>, numComputedTokens: number): void {
    if (!this.isPrefixCacheEnabled) return;
    const seq = this.seqs.get(seqId);
    assert(seq !== undefined, () => `cacheComputed for unknown sequence ${seqId}`);
    const bs = this.blockSizeTokens;
    const numFull = Math.min(Math.floor(numComputedTokens / bs), seq.blockIds.length);
    for (let i = seq.hashes.length; i < numFull; i++) {
      const parent = i === 0 ? null : seq.hashes[i - 1]!;
      const tokens = sliceOf(tokenIds, i * bs, (i + 1) * bs);
      const h = hashBlock(parent, tokens);
      this.cache.insert(seq.blockIds[i]!, h, parent, tokens); // false: an equal block is cached already
      seq.hashes.push(h);
    }
  }

  /**
   * [numLogicalBlocks] i32 physical block ids for the runner: an immutable snapshot (do not write
   * to it), rebuilt only when the sequence gains blocks, so callers may keep it.
   */
  blockTable(seqId: string): Int32Array {
    const seq = this.seqs.get(seqId);
    assert(seq !== undefined, () => `blockTable for unknown sequence ${seqId}`);
    if (seq.table === null || seq.table.length !== seq.blockIds.length) {
      const table = new Int32Array(seq.blockIds.length);
      for (let i = 0; i < table.length; i++) table[i] = seq.blockIds[i]!;
      seq.table = table;
    }
    return seq.table;
  }

  /** Releases every block of the sequence (last block first, so its tail is evicted first). */
  free(seqId: string): void {
    const seq = this.seqs.get(seqId);
    if (seq === undefined) return;
    for (let i = seq.blockIds.length - 1; i >= 0; i--) {
      const b = seq.blockIds[i]!;
      this.pool.release(b, this.cache.isCached(b));
    }
    this.seqs.delete(seqId);
  }

  get usage(): number {
    return 1 - this.pool.numFree / this.pool.numBlocks;
  }

  get prefixHitRate(): number {
    return this.numQueriedTokens === 0 ? 0 : this.numHitTokens / this.numQueriedTokens;
  }

  stats(): KvStats {
    return {
      numBlocks: this.pool.numBlocks,
      numFreeBlocks: this.pool.numFree,
      numCachedBlocks: this.cache.numCachedBlocks,
      usage: this.usage,
      numQueriedTokens: this.numQueriedTokens,
      numHitTokens: this.numHitTokens,
      prefixHitRate: this.prefixHitRate,
    };
  }

  /** Refcount of one physical block (for tests and debugging). */
  refCount(blockId: number): number {
    return this.pool.refCount(blockId);
  }

  /** Asserts the pool's invariants and that the refcounts equal the references sequences hold. */
  checkInvariants(): void {
    this.pool.checkInvariants();
    let held = 0;
    for (const s of this.seqs.values()) held += s.blockIds.length;
    assert(held === this.pool.totalRefs(), () => `sequences hold ${held} block refs, pool counts ${this.pool.totalRefs()}`);
  }

  private admit(seqId: string, prefix: CachedPrefix, numQueriedTokens: number): SeqState {
    for (const b of prefix.blockIds) this.pool.touch(b);
    const state: SeqState = { blockIds: [...prefix.blockIds], hashes: [...prefix.hashes], table: null };
    this.seqs.set(seqId, state);
    this.numQueriedTokens += numQueriedTokens;
    this.numHitTokens += prefix.numTokens;
    return state;
  }

  private allocateBlock(): number {
    const b = this.pool.allocate();
    this.cache.evict(b);
    return b;
  }
}

function sliceOf(tokenIds: ArrayLike<number>, start: number, end: number): ArrayLike<number> {
  if (tokenIds instanceof Int32Array) return tokenIds.subarray(start, end);
  return Array.prototype.slice.call(tokenIds, start, end) as number[];
}
