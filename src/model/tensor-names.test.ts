// Tests for the HF tensor names per architecture (MODELS.md §2–§6 tables).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../config/model-config.js';
import { layerTensorNames, modelTensorList, mtpTensorNames, LM_HEAD } from './tensor-names.js';

const base = { hidden_size: 64, num_hidden_layers: 2, vocab_size: 256, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 96 };

test('llama names and shapes; tied drops lm_head; bias names with attention_bias', () => {
  const s = parseModelConfig({ ...base, architectures: ['LlamaForCausalLM'], attention_bias: true });
  const n = layerTensorNames(s, 1);
  assert.ok(n.attention.kind === 'gqa');
  assert.equal(n.attention.q.weight, 'model.layers.1.self_attn.q_proj.weight');
  assert.equal(n.attention.o.bias, 'model.layers.1.self_attn.o_proj.bias');
  assert.ok(n.ffn.kind === 'dense' && n.ffn.mlp.down === 'model.layers.1.mlp.down_proj.weight');
  const list = modelTensorList(s);
  const byName = new Map(list.map((t) => [t.name, t.shape]));
  assert.deepEqual(byName.get('model.layers.0.self_attn.k_proj.weight'), [32, 64]);
  assert.deepEqual(byName.get('model.layers.0.self_attn.k_proj.bias'), [32]);
  assert.deepEqual(byName.get('model.layers.0.mlp.down_proj.weight'), [64, 96]);
  assert.deepEqual(byName.get(LM_HEAD), [256, 64]);
  assert.equal(list.length, 1 + 2 * (1 + 8 + 1 + 3) + 1 + 1);
  const tied = modelTensorList(parseModelConfig({ ...base, architectures: ['LlamaForCausalLM'], tie_word_embeddings: true }));
  assert.ok(!tied.some((t) => t.name === LM_HEAD));
});

test('mixtral uses block_sparse_moe w1/w3/w2; qwen3_moe uses mlp.experts gate/up/down', () => {
  const mx = parseModelConfig({ ...base, architectures: ['MixtralForCausalLM'], num_local_experts: 4, num_experts_per_tok: 2 });
  const f = layerTensorNames(mx, 0).ffn;
  assert.ok(f.kind === 'moe');
  assert.equal(f.router, 'model.layers.0.block_sparse_moe.gate.weight');
  assert.deepEqual(f.experts[3], {
    gate: 'model.layers.0.block_sparse_moe.experts.3.w1.weight', up: 'model.layers.0.block_sparse_moe.experts.3.w3.weight',
    down: 'model.layers.0.block_sparse_moe.experts.3.w2.weight',
  });
  const qm = parseModelConfig({ ...base, architectures: ['Qwen3MoeForCausalLM'], head_dim: 16, num_experts: 8, num_experts_per_tok: 2, moe_intermediate_size: 24 });
  const g = layerTensorNames(qm, 0);
  assert.ok(g.attention.kind === 'gqa' && g.attention.qNorm === 'model.layers.0.self_attn.q_norm.weight');
  assert.ok(g.ffn.kind === 'moe' && g.ffn.experts[7]!.up === 'model.layers.0.mlp.experts.7.up_proj.weight' && g.ffn.shared === null);
  const shapes = new Map(modelTensorList(qm).map((t) => [t.name, t.shape]));
  assert.deepEqual(shapes.get('model.layers.1.mlp.experts.0.down_proj.weight'), [64, 24]);
  assert.deepEqual(shapes.get('model.layers.1.self_attn.q_proj.weight'), [64, 64]);
});

test('deepseek v3: MLA names, shared experts, correction bias, MTP module names', () => {
  const s = parseModelConfig({
    ...base, num_hidden_layers: 3, architectures: ['DeepseekV3ForCausalLM'], model_type: 'deepseek_v3', q_lora_rank: 24, kv_lora_rank: 32,
    qk_nope_head_dim: 16, qk_rope_head_dim: 8, v_head_dim: 12, moe_intermediate_size: 16, n_routed_experts: 16, num_experts_per_tok: 4,
    n_group: 4, topk_group: 2, n_shared_experts: 2, first_k_dense_replace: 1, num_nextn_predict_layers: 1,
  });
  const shapes = new Map(modelTensorList(s).map((t) => [t.name, t.shape]));
  assert.deepEqual(shapes.get('model.layers.0.self_attn.q_b_proj.weight'), [4 * 24, 24]);
  assert.deepEqual(shapes.get('model.layers.0.self_attn.kv_a_proj_with_mqa.weight'), [40, 64]);
  assert.deepEqual(shapes.get('model.layers.0.self_attn.kv_b_proj.weight'), [4 * 28, 32]);
  assert.deepEqual(shapes.get('model.layers.0.self_attn.o_proj.weight'), [64, 48]);
  assert.deepEqual(shapes.get('model.layers.0.mlp.gate_proj.weight'), [96, 64]);
  assert.deepEqual(shapes.get('model.layers.1.mlp.shared_experts.up_proj.weight'), [32, 64]);
  assert.deepEqual(shapes.get('model.layers.2.mlp.gate.e_score_correction_bias'), [16]);
  assert.deepEqual(shapes.get('model.layers.3.eh_proj.weight'), [64, 128]);
  assert.deepEqual(shapes.get('model.layers.3.mlp.experts.15.gate_proj.weight'), [16, 64]);
  assert.ok(!shapes.has('model.layers.3.embed_tokens.weight'));
  assert.ok(modelTensorList(s, { includeMtpCopies: true }).some((t) => t.name === 'model.layers.3.shared_head.head.weight'));
  assert.ok(!modelTensorList(s, { includeMtp: false }).some((t) => t.name.startsWith('model.layers.3.')));
  const m = mtpTensorNames(s, 0);
  assert.equal(m.enorm, 'model.layers.3.enorm.weight');
  assert.equal(m.sharedHeadNorm, 'model.layers.3.shared_head.norm.weight');
  assert.throws(() => mtpTensorNames(s, 1), RangeError);
});
