/**
 * Replay captures in-process through the real pipeline and real outputs (flow NDJSON and
 * the pino alert log written to temp files, then read back), for golden and acceptance
 * tests. The CLI itself is tested separately by spawning it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openCaptureFiles } from '../../src/capture/file-source.js';
import { loadConfig, parseConfigText } from '../../src/config/index.js';
import type { Config } from '../../src/config/schema.js';
import { Pipeline, type RunStats } from '../../src/pipeline.js';

export interface ReplayResult {
  stats: RunStats;
  flows: Record<string, any>[];
  alerts: Record<string, any>[];
  dir: string;
  flowsPath: string;
  alertsPath: string;
}

export async function replayCapture(
  files: string | string[],
  options: { configYaml?: string; config?: Config; flowsFormat?: 'json' | 'ipaudit' } = {},
): Promise<ReplayResult> {
  const config = options.config ?? (options.configYaml ? parseConfigText(options.configYaml, 'test.yaml') : loadConfig());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-replay-'));
  const flowsPath = path.join(dir, 'flows.ndjson');
  const alertsPath = path.join(dir, 'alerts.ndjson');
  const source = openCaptureFiles(Array.isArray(files) ? files : [files]);
  const pipeline = new Pipeline({ config, flowsDest: flowsPath, flowsFormat: options.flowsFormat ?? 'json', alertsDest: alertsPath });
  await pipeline.run(source);
  const stats = await pipeline.finish(source.warnings);
  const lines = (p: string) => fs.readFileSync(p, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const flows = options.flowsFormat === 'ipaudit' ? [] : lines(flowsPath).map((l) => JSON.parse(l));
  const alerts = lines(alertsPath).map((l) => JSON.parse(l));
  return { stats, flows, alerts, dir, flowsPath, alertsPath };
}
