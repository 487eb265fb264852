import { SCENARIOS, SYSTEMS, type ScenarioKey, type SystemName } from './protocol.js';

export interface BenchOptions {
  quick: boolean;
  scenarios: ScenarioKey[];
  systems: SystemName[];
  repeat: number;
  /** Write V8 CPU profiles of every child into bench/results/profiles. */
  cpuProfile: boolean;
  /** Load pg_stat_statements and print the top statements of each child's run. */
  pgStatStatements: boolean;
  out: string;
  /**
   * (h)'s finished tasks in history, over the size of the run (full 1,000,000, quick 50,000); e.g.
   * 10,000,000 for issue 17's once-a-round check. Undefined: the run's size.
   */
  historyRows?: number;
}

const USAGE = `Usage: npm run bench -- [--quick] [--only a,b,…] [--systems taskwire,pg-boss,…] [--repeat N]
                        [--cpu-prof] [--pg-stat-statements] [--out FILE] [--history-rows N]
Scenarios: ${Object.entries(SCENARIOS).map(([k, v]) => `${k}=${v}`).join(' ')}
Systems: ${SYSTEMS.join(' ')}`;

/** Parses the benchmark's flags; throws with the usage text on anything unknown. */
export function parseArgs(argv: readonly string[]): BenchOptions {
  const o: BenchOptions = {
    quick: false,
    scenarios: Object.keys(SCENARIOS) as ScenarioKey[],
    systems: [...SYSTEMS],
    repeat: 3,
    cpuProfile: false,
    pgStatStatements: false,
    out: 'bench/results/latest.json',
  };
  const list = (value: string | undefined, flag: string): string[] => {
    if (!value) throw new Error(`${flag} needs a value\n${USAGE}`);
    return value.split(',').map((s) => s.trim()).filter(Boolean);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.includes('=') ? (arg.split(/=(.*)/s, 2) as [string, string]) : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--quick':
        o.quick = true;
        break;
      case '--only': {
        const keys = list(value(), flag).map((k) => (k in SCENARIOS ? k : Object.entries(SCENARIOS).find(([, v]) => v === k)?.[0]));
        if (keys.some((k) => k === undefined)) throw new Error(`--only: unknown scenario\n${USAGE}`);
        o.scenarios = keys as ScenarioKey[];
        break;
      }
      case '--systems': {
        const names = list(value(), flag);
        const unknown = names.filter((n) => !(SYSTEMS as readonly string[]).includes(n));
        if (unknown.length > 0) throw new Error(`--systems: unknown ${unknown.join(', ')}\n${USAGE}`);
        o.systems = names as SystemName[];
        break;
      }
      case '--repeat': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1) throw new Error(`--repeat must be a positive integer\n${USAGE}`);
        o.repeat = n;
        break;
      }
      case '--cpu-prof':
        o.cpuProfile = true;
        break;
      case '--pg-stat-statements':
        o.pgStatStatements = true;
        break;
      case '--history-rows': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 50_000) throw new Error(`--history-rows must be an integer of at least 50000 (the deep page is 10,000 rows in)\n${USAGE}`);
        o.historyRows = n;
        break;
      }
      case '--out':
        o.out = value() ?? o.out;
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`Unknown argument ${arg}\n${USAGE}`);
    }
  }
  return o;
}
