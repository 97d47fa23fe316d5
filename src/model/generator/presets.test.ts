import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfigJson, GEN_ARCHS, GEN_PRESETS, GEN_VARIANTS, type GenArch, type GenPreset } from './presets.js';
import { checkpointTensorList } from './build-weights.js';
import { parseModelConfig } from '../../config/model-config.js';
import type { ModelSpec } from '../../config/model-spec.js';

const TOK = { vocabSize: 464, bosTokenId: 456, eosTokenId: 457 };

function spec(arch: GenArch, preset: GenPreset, variant?: string): ModelSpec {
  return parseModelConfig(buildConfigJson(arch, preset, variant, TOK, 'float32'));
}

function paramBytesF32(s: ModelSpec): number {
  return checkpointTensorList(s).reduce((sum, t) => sum + 4 * t.shape.reduce((a, b) => a * b, 1), 0);
}

test('every arch × preset × variant parses into a ModelSpec', () => {
  for (const arch of GEN_ARCHS) {
    for (const preset of GEN_PRESETS) {
      for (const variant of [undefined, ...GEN_VARIANTS[arch]]) {
        const s = spec(arch, preset, variant);
        assert.equal(s.vocabSize, 464);
        assert.deepEqual(s.eosTokenIds, [457]);
      }
    }
  }
});

test('small presets are 300–520 MiB of f32 weights with a byte vocabulary; tiny ones under 2 MiB', () => {
  for (const arch of GEN_ARCHS) {
    const small = paramBytesF32(spec(arch, 'small')) / 2 ** 20;
    assert.ok(small >= 300 && small <= 520, `${arch} small: ${small.toFixed(0)} MiB`);
    const tiny = paramBytesF32(spec(arch, 'tiny')) / 2 ** 20;
    assert.ok(tiny < 2, `${arch} tiny: ${tiny.toFixed(2)} MiB`);
  }
});

test('tiny presets carry the MODELS.md §9.2 fixture highlights', () => {
  const v3 = spec('deepseek-v3', 'tiny');
  assert.ok(v3.attention.kind === 'mla' && v3.attention.qLoraRank === 24 && v3.attention.kvLoraRank === 32);
  assert.equal(v3.numMtpLayers, 1);
  assert.deepEqual(v3.layers.map((l) => l.ffn.kind), ['dense', 'moe', 'moe']);
  const moe = v3.layers[1]!.ffn;
  assert.ok(moe.kind === 'moe' && moe.router.numGroups === 4 && moe.router.topkGroups === 2 && moe.router.method === 'noaux_tc');
  assert.ok(moe.sharedIntermediateSize === 16 && moe.router.routedScalingFactor === 2.5);
  assert.ok(v3.rope.scaling.kind === 'yarn' && v3.rope.scaling.factor === 4);
  const v2 = spec('deepseek-v2', 'tiny').layers[1]!.ffn;
  assert.ok(v2.kind === 'moe' && v2.router.method === 'group_limited_greedy' && v2.router.routedScalingFactor === 16 && !v2.router.hasCorrectionBias);
  const q3 = spec('qwen3', 'tiny');
  assert.ok(q3.attention.kind === 'gqa' && q3.attention.headDim === 16 && q3.hiddenSize !== 4 * 16 && q3.attention.numKvHeads === 1);
  assert.equal(q3.tieWordEmbeddings, true);
  const llama = spec('llama', 'tiny');
  assert.ok(llama.rope.scaling.kind === 'llama3' && llama.rope.scaling.originalMaxPositions === 32);
  const mixtral = spec('mixtral', 'tiny').layers[0]!.ffn;
  assert.ok(mixtral.kind === 'moe' && mixtral.numExperts === 4 && mixtral.expertIntermediateSize === 48);
  const noq = spec('deepseek-v3', 'tiny', 'noq');
  assert.deepEqual(noq.layers.map((l) => l.ffn.kind), ['dense', 'dense', 'moe']);
  assert.equal(noq.rope.scaling.kind, 'none');
});
