// Configuration of `isoproxy serve` (flags, ISOPROXY_* env, optional JSON file). Extended by the HTTP work.

export interface Config {
  readonly host: string;
  readonly port: number;
  /** Base URL BMCs use to reach us (for node URLs), e.g. http://10.0.0.5:8080 */
  readonly publicUrl: string;
  readonly dataDir: string;
  readonly cacheDir: string;
  readonly cacheBudgetBytes: number;
  readonly blockSizeBytes: number;
  readonly adminToken?: string;
  /** URL prefixes a node's bootIso may start with (http/https). */
  readonly allowedUpstreams: readonly string[];
  /** Directories file:// URLs may point into. */
  readonly allowedDirs: readonly string[];
  readonly workers: number;
  readonly logLevel: string;
  readonly shutdownDeadlineMs: number;
}
