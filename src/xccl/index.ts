/** XCCL public surface (paper notes §2.4): import from here outside src/xccl/. */
export { createCommunicator, Communicator } from './communicator.js';
export type { CommunicatorSpec, CommunicatorOptions, TransportSpec, Endpoint } from './communicator.js';
export type { XcclHandle } from './p2p.js';
export { makeRegionLayout, DEFAULT_REGION } from './region.js';
export type { RegionConfig, RegionLayout } from './region.js';
export type { Transport, TransportKind, WaitSpec } from './transport.js';
export { allocateThreadRegions, markThreadRankDead } from './shm/thread.js';
export { processRegionPaths, unlinkProcessRegions } from './shm/process.js';
export { ExpertParallel, EpGroupEngine } from './ep/expert-parallel.js';
export type { PendingOp } from './ep/expert-parallel.js';
export type { EpConfig, DispatchLayout } from './ep/layout.js';
export type { DispatchHandle, DispatchResult } from './ep/dispatch.js';
export { AttentionExpert } from './ep/a2e.js';
export type { A2eConfig, AttentionHandle, ExpertHandle, ExpertBatch } from './ep/a2e.js';
