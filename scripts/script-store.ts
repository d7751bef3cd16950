/**
 * Scripts (admin, seed) open the same store the hub uses: MONGO_URL, or the
 * embedded store under DATA_DIR. The embedded store's data directory is locked
 * by a running hub, so these scripts say so and ask to stop it first.
 */
import { loadConfig, loadEnvFile } from '../src/config.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { openStore, type Store } from '../src/store/connection.js';

export async function openScriptStore(): Promise<Store> {
  loadEnvFile();
  const config = loadConfig();
  try {
    return await openStore({ mongoUrl: config.mongoUrl, dataDir: config.dataDir, logger: createLogger('warn'), metrics: createMetrics() });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/lock/i.test(message)) {
      console.error(`The data directory ${config.dataDir} is in use by a running hub. Stop it (Ctrl-C) and run this again.`);
      process.exit(1);
    }
    throw error;
  }
}
