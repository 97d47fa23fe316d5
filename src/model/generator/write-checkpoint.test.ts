import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCheckpoint, type GenerateCheckpointOptions } from './write-checkpoint.js';
import { GEN_ARCHS, type GenArch } from './presets.js';
import { openSafetensorsWeights, INDEX_FILE } from '../safetensors.js';
import { parseModelConfig } from '../../config/model-config.js';
import { bindModelWeights } from '../model-weights.js';
import { loadTokenizer } from '../tokenizer.js';
import { modelTensorList } from '../tensor-names.js';
import { isXdsError } from '../../core/errors.js';

const root = mkdtempSync(join(tmpdir(), 'xds-gen-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `m${n++}`);

async function gen(o: Partial<GenerateCheckpointOptions> & { arch: string }): Promise<{ dir: string; config: Record<string, unknown> }> {
  return generateCheckpoint({ preset: 'tiny', seed: 1, outDir: fresh(), ...o });
}

function readConfig(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
}

function filesOf(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));
}

const ARCH_NAMES: Record<GenArch, string> = {
  'deepseek-v3': 'DeepseekV3ForCausalLM', 'deepseek-v2': 'DeepseekV2ForCausalLM', 'qwen3-moe': 'Qwen3MoeForCausalLM',
  qwen3: 'Qwen3ForCausalLM', mixtral: 'MixtralForCausalLM', llama: 'LlamaForCausalLM',
};

for (const arch of GEN_ARCHS) {
  test(`${arch} tiny: HF layout that loads back through parseModelConfig + bindModelWeights`, async () => {
    const { dir } = await gen({ arch });
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']) {
      assert.ok(existsSync(join(dir, f)), f);
    }
    const config = readConfig(dir);
    assert.deepEqual(config['architectures'], [ARCH_NAMES[arch]]);
    assert.equal(config['torch_dtype'], 'float32');
    const spec = parseModelConfig(config);
    const tok = loadTokenizer(dir);
    assert.equal(spec.vocabSize, tok.vocabSize);
    assert.deepEqual(spec.eosTokenIds, [tok.eosTokenId]);
    assert.equal(spec.bosTokenId, tok.bosTokenId ?? null);
    const source = openSafetensorsWeights(dir);
    const expected = modelTensorList(spec, { includeMtp: true, includeMtpCopies: true }).map((t) => t.name).sort();
    assert.deepEqual(source.names().sort(), expected);
    const w = bindModelWeights(spec, source);
    assert.equal(w.layers.length, spec.numLayers);
    assert.equal(w.mtp.length, spec.numMtpLayers);
    const cfgTemplate = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(typeof cfgTemplate['chat_template'], 'string');
  });
}

test('same options ⇒ byte-identical files; another seed ⇒ other weights', async () => {
  const a = await gen({ arch: 'deepseek-v3', seed: 5 });
  const b = await gen({ arch: 'deepseek-v3', seed: 5 });
  const c = await gen({ arch: 'deepseek-v3', seed: 6 });
  const fa = filesOf(a.dir);
  const fb = filesOf(b.dir);
  assert.deepEqual([...fa.keys()], [...fb.keys()]);
  for (const [f, bytes] of fa) assert.ok(bytes.equals(fb.get(f)!), `${f} differs`);
  assert.ok(!fa.get('model.safetensors')!.equals(filesOf(c.dir).get('model.safetensors')!));
});

test('MODELS.md §9.1 initialization statistics (5σ tolerances) and MTP copies', async () => {
  const { dir } = await gen({ arch: 'deepseek-v3', seed: 3 });
  const spec = parseModelConfig(readConfig(dir));
  const w = openSafetensorsWeights(dir);
  const stats = (name: string): { mean: number; std: number; n: number } => {
    const x = w.get(name).data as Float32Array;
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    return { mean, std: Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length), n: x.length };
  };
  const close = (name: string, mean: number, std: number): void => {
    const s = stats(name);
    assert.ok(Math.abs(s.mean - mean) < (5 * std) / Math.sqrt(s.n), `${name} mean ${s.mean}`);
    assert.ok(Math.abs(s.std / std - 1) < 5 / Math.sqrt(2 * s.n), `${name} std ${s.std} vs ${std}`);
  };
  close('model.embed_tokens.weight', 0, 1);
  close('model.layers.0.mlp.gate_proj.weight', 0, 1 / Math.sqrt(64));
  close('model.layers.0.mlp.down_proj.weight', 0, 1 / Math.sqrt(96));
  close('model.layers.1.mlp.gate.weight', 0, 2 / Math.sqrt(64));
  close('model.layers.1.self_attn.kv_b_proj.weight', 0, 1 / Math.sqrt(32));
  const bias = w.get('model.layers.1.mlp.gate.e_score_correction_bias').data as Float32Array;
  assert.ok(bias.some((v) => v < 0) && bias.every((v) => v !== 0));
  const norm = stats('model.layers.0.input_layernorm.weight');
  assert.ok(Math.abs(norm.mean - 1) < 0.2 && norm.std > 0.1 && norm.std < 0.3);
  const L = spec.numLayers;
  assert.deepEqual(w.get(`model.layers.${L}.embed_tokens.weight`).data, w.get('model.embed_tokens.weight').data);
  assert.deepEqual(w.get(`model.layers.${L}.shared_head.head.weight`).data, w.get('lm_head.weight').data);
});

test('variants change the config as MODELS.md §9.2 says', async () => {
  const noq = readConfig((await gen({ arch: 'deepseek-v3', variant: 'noq' })).dir);
  assert.equal(noq['q_lora_rank'], null);
  assert.equal(noq['n_shared_experts'], 2);
  assert.equal(noq['num_nextn_predict_layers'], 0);
  const k2 = readConfig((await gen({ arch: 'deepseek-v3', variant: 'k2yarn' })).dir);
  assert.equal(k2['rope_theta'], 50000);
  assert.deepEqual([(k2['rope_scaling'] as Record<string, number>)['beta_fast'], (k2['rope_scaling'] as Record<string, number>)['factor']], [1, 32]);
  const pos = await gen({ arch: 'deepseek-v3', variant: 'posbias' });
  const bias = openSafetensorsWeights(pos.dir).get('model.layers.1.mlp.gate.e_score_correction_bias').data as Float32Array;
  assert.ok(bias.every((v) => v > 0));
  const lite = parseModelConfig(readConfig((await gen({ arch: 'deepseek-v2', variant: 'v2-lite' })).dir));
  assert.equal(lite.attention.kind === 'mla' && lite.attention.qLoraRank, null);
  assert.equal(lite.layers[1]!.ffn.kind === 'moe' && lite.layers[1]!.ffn.router.method, 'topk');
  const nonorm = parseModelConfig(readConfig((await gen({ arch: 'qwen3-moe', variant: 'nonorm' })).dir));
  assert.equal(nonorm.layers[1]!.ffn.kind === 'moe' && nonorm.layers[1]!.ffn.router.normTopkProb, false);
  assert.deepEqual(nonorm.layers.map((l) => l.ffn.kind), ['dense', 'moe', 'dense', 'dense']);
});

test('bf16 storage (correction bias stays f32) and sharding with an index', async () => {
  const { dir } = await gen({ arch: 'deepseek-v3', dtype: 'bf16', maxShardBytes: 64 * 1024 });
  assert.ok(existsSync(join(dir, INDEX_FILE)));
  assert.ok(!existsSync(join(dir, 'model.safetensors')));
  const w = openSafetensorsWeights(dir);
  assert.equal(w.get('model.layers.0.mlp.up_proj.weight').dtype, 'bf16');
  assert.equal(w.get('model.layers.1.mlp.gate.e_score_correction_bias').dtype, 'f32');
  assert.equal(readConfig(dir)['torch_dtype'], 'bfloat16');
  const spec = parseModelConfig(readConfig(dir));
  bindModelWeights(spec, w);
  // Regenerating into the same folder unsharded leaves no stale index behind.
  await generateCheckpoint({ arch: 'deepseek-v3', preset: 'tiny', seed: 1, outDir: dir });
  assert.ok(!existsSync(join(dir, INDEX_FILE)) && existsSync(join(dir, 'model.safetensors')));
});

test('a real tokenizer sets vocab and special ids (qwen3)', async () => {
  const { dir, config } = await gen({ arch: 'qwen3', tokenizer: 'qwen3' });
  const tok = loadTokenizer(dir);
  assert.ok(tok.vocabSize > 151_000);
  assert.equal(config['vocab_size'], tok.vocabSize);
  assert.equal(config['eos_token_id'], tok.tokenToId('<|im_end|>'));
  assert.equal(config['tie_word_embeddings'], true);
});

test('bad options are XdsErrors naming the flag', async () => {
  const cases: [Partial<GenerateCheckpointOptions> & { arch: string }, string][] = [
    [{ arch: 'gpt2' }, 'arch'], [{ arch: 'llama', preset: 'huge' }, 'preset'], [{ arch: 'llama', variant: 'noq' }, 'variant'],
    [{ arch: 'llama', tokenizer: 'gpt2' }, 'tokenizer'], [{ arch: 'llama', dtype: 'f8' }, 'dtype'], [{ arch: 'llama', seed: -1 }, 'seed'],
  ];
  for (const [o, param] of cases) {
    await assert.rejects(gen(o), (e) => isXdsError(e, 'invalid_argument') && e.param === param);
  }
});
