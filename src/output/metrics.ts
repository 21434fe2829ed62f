/**
 * Optional Prometheus endpoint of the live sensor (config `outputs.metricsListen`,
 * "host:port", default off). It exposes the numbers of the stats line
 * (src/output/stats-line.ts) with prom-client. Nothing here runs per packet: every metric
 * is filled by a collect() callback when Prometheus scrapes, from one snapshot taken per
 * scrape.
 */
import http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { UserError } from '../util/errors.js';
import type { SensorSnapshot } from './stats-line.js';

export interface MetricsServer {
  /** The address actually bound ("127.0.0.1:9900"; the port is known after listen when 0 was asked). */
  readonly address: string;
  close(): Promise<void>;
}

/** Parse "host:port" / "[v6]:port" / ":port" (all addresses). */
export function parseListen(text: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new UserError('E_CONFIG', `outputs.metricsListen must be "host:port" (e.g. "127.0.0.1:9900"), got "${text}"`);
  }
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

/** Build the registry. `take` is called once per scrape. */
export function createRegistry(take: () => SensorSnapshot): Registry {
  const registry = new Registry();
  let snap: SensorSnapshot | null = null;
  // All collect() callbacks of one scrape share one snapshot: the first takes it, and the
  // registry's metrics() resets it below.
  const get = (): SensorSnapshot => (snap ??= take());

  const counter = (name: string, help: string, value: (s: SensorSnapshot) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(value(get()));
      },
    });
  const labelled = (name: string, help: string, label: string, values: (s: SensorSnapshot) => Record<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [k, v] of Object.entries(values(get()))) this.labels(k).inc(v);
      },
    });

  counter('tapaudit_packets_total', 'Packets captured', (s) => s.packets);
  counter('tapaudit_bytes_total', 'Bytes captured (frame lengths)', (s) => s.bytes);
  new Gauge({
    name: 'tapaudit_flows_active',
    help: 'Flows in the flow table',
    registers: [registry],
    collect() {
      this.set(get().flows_active);
    },
  });
  labelled('tapaudit_flows_emitted_total', 'Flow records emitted, by end reason', 'reason', (s) => s.flows);
  labelled('tapaudit_alerts_total', 'Alerts written, by rule id', 'rule', (s) => s.alerts_by_rule);
  counter('tapaudit_alerts_suppressed_total', 'Repeats of an alert counted into a later summary', (s) => s.alerts_suppressed);
  labelled('tapaudit_not_flowed_total', 'Packets that made no flow, by reason', 'reason', (s) => s.not_flowed_by_reason);
  counter('tapaudit_kernel_rx_packets_total', 'Frames the kernel counted on the interface since start (rx + dropped + missed)', (s) => s.capture_loss_total.kernel_rx);
  counter(
    'tapaudit_capture_loss_estimate_packets_total',
    'Estimated frames lost since start: kernel counters minus packets seen (an upper bound with a BPF filter)',
    (s) => s.capture_loss_total.lost ?? 0,
  );

  const metrics = registry.metrics.bind(registry);
  registry.metrics = async () => {
    try {
      return await metrics();
    } finally {
      snap = null;
    }
  };
  return registry;
}

/** Serve GET /metrics on `listen`. Fails with a UserError when the address cannot be bound. */
export async function startMetricsServer(listen: string, take: () => SensorSnapshot): Promise<MetricsServer> {
  const { host, port } = parseListen(listen);
  const registry = createRegistry(take);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new UserError('E_CONFIG', `cannot serve metrics on ${listen}: ${err.code ?? err.message}; change outputs.metricsListen`)),
    );
    server.listen(port, host, () => resolve());
  });
  // The metrics endpoint must never keep a stopping sensor alive.
  server.unref();
  const a = server.address();
  const address = a && typeof a === 'object' ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : listen;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
