/**
 * BlockPool: the physical KV blocks of one DP group's RTC (paper notes §1.2 "RTC", §2.9), as pure
 * bookkeeping: a reference count per block and a free list ordered for eviction. It never touches
 * KV memory (that is kv-storage.ts) and knows nothing about hashes beyond one flag per release.
 *
 * Free-list order (head = next to hand out):
 * - a released block that holds no cached prefix goes to the HEAD (reused first: nothing lost);
 * - a released block that holds a cached prefix goes to the TAIL, so cached blocks are reused
 *   last and in the order they were released (LRU eviction).
 * A prefix hit on a free block (`touch`) takes it out of the free list wherever it sits.
 */
import { assert } from '../core/assert.js';
import { XdsError } from '../core/errors.js';

export class BlockPool {
  readonly numBlocks: number;
  private readonly refCounts: Int32Array; // [numBlocks] references held by sequences
  // Doubly linked free list over block ids; index numBlocks is the sentinel.
  private readonly prev: Int32Array; // [numBlocks + 1]
  private readonly next: Int32Array; // [numBlocks + 1]
  private readonly isFree: Uint8Array; // [numBlocks] 1 while the block is in the free list
  private numFreeBlocks = 0;

  constructor(numBlocks: number) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) {
      throw new XdsError('invalid_config', `numBlocks must be a positive integer, got ${numBlocks}`, { param: 'numBlocks' });
    }
    this.numBlocks = numBlocks;
    this.refCounts = new Int32Array(numBlocks);
    this.prev = new Int32Array(numBlocks + 1).fill(numBlocks);
    this.next = new Int32Array(numBlocks + 1).fill(numBlocks);
    this.isFree = new Uint8Array(numBlocks);
    for (let b = 0; b < numBlocks; b++) this.pushTail(b);
  }

  /** Blocks with refcount 0 (some may still hold a cached prefix: evictable). */
  get numFree(): number {
    return this.numFreeBlocks;
  }

  refCount(blockId: number): number {
    this.checkId(blockId);
    return this.refCounts[blockId]!;
  }

  isInFreeList(blockId: number): boolean {
    this.checkId(blockId);
    return this.isFree[blockId] === 1;
  }

  /** The block at the head of the free list, refcount 0 → 1. The caller evicts its cached hash. */
  allocate(): number {
    assert(this.numFreeBlocks > 0, 'BlockPool.allocate with no free block');
    const b = this.next[this.numBlocks]!;
    this.unlink(b);
    this.refCounts[b] = 1;
    return b;
  }

  /** One more reference (a prefix hit); a free block leaves the free list. */
  touch(blockId: number): void {
    this.checkId(blockId);
    if (this.isFree[blockId] === 1) this.unlink(blockId);
    this.refCounts[blockId]! += 1;
  }

  /** Drops one reference; at zero the block joins the free list (tail if `holdsCachedPrefix`). */
  release(blockId: number, holdsCachedPrefix: boolean): void {
    this.checkId(blockId);
    assert(this.refCounts[blockId]! > 0, () => `release of block ${blockId} with refcount 0`);
    this.refCounts[blockId]! -= 1;
    if (this.refCounts[blockId] !== 0) return;
    if (holdsCachedPrefix) this.pushTail(blockId);
    else this.pushHead(blockId);
  }

  /** Free block ids in eviction order (head first). O(numFree); for tests and debugging. */
  freeOrder(): number[] {
    const out: number[] = [];
    for (let b = this.next[this.numBlocks]!; b !== this.numBlocks; b = this.next[b]!) out.push(b);
    return out;
  }

  /** Sum of all refcounts (the references sequences hold). */
  totalRefs(): number {
    let s = 0;
    for (let b = 0; b < this.numBlocks; b++) s += this.refCounts[b]!;
    return s;
  }

  /** Asserts: a block is in the free list iff its refcount is 0, and the list length matches. */
  checkInvariants(): void {
    let n = 0;
    for (let b = 0; b < this.numBlocks; b++) {
      const free = this.isFree[b] === 1;
      assert(free === (this.refCounts[b] === 0), () => `block ${b}: refcount ${this.refCounts[b]} but isFree ${free}`);
      if (free) n++;
    }
    assert(n === this.numFreeBlocks && n === this.freeOrder().length, () => `free count ${this.numFreeBlocks} vs ${n}`);
  }

  private checkId(blockId: number): void {
    assert(Number.isInteger(blockId) && blockId >= 0 && blockId < this.numBlocks, () => `block id ${blockId} out of [0, ${this.numBlocks})`);
  }

  private pushHead(b: number): void {
    this.linkAfter(this.numBlocks, b);
  }

  private pushTail(b: number): void {
    this.linkAfter(this.prev[this.numBlocks]!, b);
  }

  private linkAfter(at: number, b: number): void {
    const after = this.next[at]!;
    this.prev[b] = at;
    this.next[b] = after;
    this.next[at] = b;
    this.prev[after] = b;
    this.isFree[b] = 1;
    this.numFreeBlocks++;
  }

  private unlink(b: number): void {
    const p = this.prev[b]!;
    const n = this.next[b]!;
    this.next[p] = n;
    this.prev[n] = p;
    this.isFree[b] = 0;
    this.numFreeBlocks--;
  }
}
