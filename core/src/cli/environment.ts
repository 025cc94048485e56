/**
 * The environment variables expgen reads, for `--help` and the README. Keep it in step with the code: `grep -rn
 * process.env` over core/ and plugins/ (bench-internal variables excepted).
 */
export const ENVIRONMENT: readonly (readonly [name: string, what: string])[] = [
  ['EXPGEN_DEBUG', 'Set (to anything) to print the stack trace behind an error.'],
  ['EXPGEN_LOG', 'Log level on standard error: info (default), debug, or quiet (warnings only).'],
  [
    'EXPGEN_EXAMPLES',
    'Set to 1 to load the example plugins of a repository checkout (examples/*); otherwise they stay hidden unless a config lists them under plugins.paths.',
  ],
  [
    'XDG_CACHE_HOME',
    'The cache is $XDG_CACHE_HOME/expgen, else ~/.cache/expgen (cacheDir in the config overrides both).',
  ],
  ['CI', 'Set: progress is printed as plain lines, never redrawn.'],
  [
    'SLURM_ARRAY_TASK_ID',
    '--shard auto/N takes the shard index from it (a Slurm job array task), else from JOB_COMPLETION_INDEX.',
  ],
  ['JOB_COMPLETION_INDEX', '--shard auto/N takes the shard index from it (a Kubernetes Indexed Job).'],
  [
    'SLURM_JOB_ID',
    "Recorded in a run folder's lock: a job Slurm requeues (same id, higher SLURM_RESTART_COUNT) takes over its own lock.",
  ],
  ['SLURM_RESTART_COUNT', 'How many times Slurm requeued the job (see SLURM_JOB_ID).'],
  [
    'OPENAI_BASE_URL',
    'Base URL(s), comma-separated, of the openai-compatible describer and simulator, and of the detection and fuzzing judges, when their options give none.',
  ],
  ['OPENAI_MODEL', 'Model name of those components when their options give none.'],
  [
    'OPENAI_API_KEY',
    'API key of those components (or the variable their apiKeyEnv option names); never logged or written.',
  ],
];
