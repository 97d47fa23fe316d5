/** What every route of one gateway shares: the served model (with its DP-group engine) and the metrics. */
import type { ServedModel } from '../serving/served-model.js';
import type { GatewayMetrics } from './metrics.js';

export interface GatewayContext {
  readonly model: ServedModel;
  readonly metrics: GatewayMetrics;
}
