/**
 * Independent reference, which layers are MoE, decided from the raw config.json by the rules of
 * MODELS.md §3.1 (Mixtral: all), §3.2 (Qwen3-MoE: l ∉ mlp_only_layers and (l+1) mod step = 0) and
 * §4.1 (DeepSeek: l ≥ first_k_dense_replace and l mod moe_layer_freq = 0). Tests compare it with
 * the ModelSpec's `layers`, which the reference otherwise trusts for sizes.
 */

export type LayerKind = 'dense' | 'moe';

function num(cfg: Record<string, unknown>, key: string, dflt: number): number {
  const v = cfg[key];
  return typeof v === 'number' ? v : dflt;
}

/** 'dense' | 'moe' for each main layer, from config.json keys. */
export function referenceLayerKinds(cfg: Record<string, unknown>): LayerKind[] {
  const arch = (cfg['architectures'] as string[] | undefined)?.[0] ?? '';
  const L = num(cfg, 'num_hidden_layers', 0);
  const kinds: LayerKind[] = [];
  for (let l = 0; l < L; l++) kinds.push(layerKind(arch, cfg, l));
  return kinds;
}

function layerKind(arch: string, cfg: Record<string, unknown>, l: number): LayerKind {
  switch (arch) {
    case 'MixtralForCausalLM': return 'moe';
    case 'Qwen3MoeForCausalLM': {
      const only = (cfg['mlp_only_layers'] as number[] | undefined) ?? [];
      const sparse = !only.includes(l) && num(cfg, 'num_experts', 0) > 0 && (l + 1) % num(cfg, 'decoder_sparse_step', 1) === 0;
      return sparse ? 'moe' : 'dense';
    }
    case 'DeepseekV2ForCausalLM':
    case 'DeepseekV3ForCausalLM': {
      const moe = cfg['n_routed_experts'] != null && l >= num(cfg, 'first_k_dense_replace', 0) && l % num(cfg, 'moe_layer_freq', 1) === 0;
      return moe ? 'moe' : 'dense';
    }
    default: return 'dense';
  }
}
