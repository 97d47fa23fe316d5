/**
 * Prometheus metrics of the gateway (paper notes §2.12: per-DP pending counts and KV statistics;
 * issue 4: TTFT, TPOT / inter-token latency, end-to-end latency, running / waiting requests, KV
 * usage, prefix hit rate, prompt and generation token counters). One Registry per gateway (tests
 * run several in one process); engine gauges are read from DpEngine.stats() at scrape time.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DpEngine } from '../flowserve/engine.js';
import type { ChoiceEvent } from './choice-run.js';

const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const E2E_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly ttft: Histogram;
  private readonly tpot: Histogram;
  private readonly itl: Histogram;
  private readonly e2e: Histogram;
  private readonly promptTokens: Counter;
  private readonly generationTokens: Counter;
  private readonly finished: Counter<'finished_reason'>;
  private readonly rejected: Counter<'code'>;

  constructor(engine: DpEngine, modelName: string) {
    const r = [this.registry];
    this.registry.setDefaultLabels({ model_name: modelName });
    const hist = (name: string, help: string, buckets: number[]): Histogram => new Histogram({ name, help, buckets, registers: r });
    this.ttft = hist('xds_time_to_first_token_seconds', 'Time to first token (s)', LATENCY_BUCKETS_S);
    this.tpot = hist('xds_time_per_output_token_seconds', 'Mean time per output token after the first, per request (s)', LATENCY_BUCKETS_S);
    this.itl = hist('xds_inter_token_latency_seconds', 'Time between consecutive output tokens (s)', LATENCY_BUCKETS_S);
    this.e2e = hist('xds_e2e_request_latency_seconds', 'End-to-end request latency (s)', E2E_BUCKETS_S);
    this.promptTokens = new Counter({ name: 'xds_prompt_tokens_total', help: 'Prompt tokens processed', registers: r });
    this.generationTokens = new Counter({ name: 'xds_generation_tokens_total', help: 'Tokens generated', registers: r });
    this.finished = new Counter({ name: 'xds_request_success_total', help: 'Finished choices by finish reason', labelNames: ['finished_reason'], registers: r });
    this.rejected = new Counter({ name: 'xds_request_rejected_total', help: 'Requests refused before they ran, by error code', labelNames: ['code'], registers: r });
    this.engineGauges(engine);
  }

  private engineGauges(engine: DpEngine): void {
    const r = [this.registry];
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({ name, help, registers: r, collect() { this.set(read()); } });
    };
    gauge('xds_num_requests_running', 'Requests in the running set', () => engine.numRunning);
    gauge('xds_num_requests_waiting', 'Requests in the waiting queue', () => engine.numWaiting);
    gauge('xds_kv_cache_usage_ratio', 'Fraction of KV blocks in use (0..1)', () => engine.kv.usage);
    gauge('xds_prefix_cache_hit_rate', 'Prompt tokens found in the prefix cache / tokens looked up (0..1)', () => engine.kv.stats().prefixHitRate);
    gauge('xds_engine_steps', 'Engine steps that ran a forward', () => engine.stats().numSteps);
    new Gauge({
      name: 'xds_engine_step_time_seconds', help: 'Time in engine steps by phase, summed over all steps (s); scheduler time = schedule + commit',
      labelNames: ['phase'], registers: r,
      collect() {
        const s = engine.stats();
        const phases = { schedule: s.totalScheduleUs, forward: s.totalForwardUs, sample: s.totalSampleUs, commit: s.totalCommitUs };
        for (const [phase, us] of Object.entries(phases)) this.set({ phase }, us / 1e6);
      },
    });
  }

  /** Records a finished choice. */
  observeDone(ev: Extract<ChoiceEvent, { kind: 'done' }>, countPrompt: boolean): void {
    const t = ev.timing;
    if (t.ttftS !== null) this.ttft.observe(t.ttftS);
    for (const gap of t.itlS) this.itl.observe(gap);
    if (t.itlS.length > 0) this.tpot.observe(t.itlS.reduce((a, b) => a + b, 0) / t.itlS.length);
    this.e2e.observe(t.e2eS);
    if (countPrompt) this.promptTokens.inc(ev.usage.promptTokens);
    this.generationTokens.inc(ev.usage.completionTokens);
    this.finished.inc({ finished_reason: ev.finishReason });
  }

  observeRejected(code: string): void {
    this.rejected.inc({ code });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
