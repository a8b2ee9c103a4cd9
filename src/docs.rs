//! Documentation written for people and programs, one entry per command:
//! the man pages (DESCRIPTION, EXAMPLES) and `robot-docs` (examples,
//! response schema) both read it, and tests keep it in step with the CLI.

pub struct CommandDoc {
    pub name: &'static str,
    /// DESCRIPTION of the man page: paragraphs separated by blank lines.
    pub description: &'static str,
    /// (command line, what it does)
    pub examples: &'static [(&'static str, &'static str)],
    /// (field path, type and meaning) of `data` in the robot envelope.
    pub response: &'static [(&'static str, &'static str)],
}

pub const OVERVIEW: &str = "\
syncfleet keeps every workspace in sync on a schedule. A workspace is a directory with a syncfleet.json that lists the commands (stages) that sync it. For each workspace, syncfleet install creates an OS-native scheduled service (a systemd user timer) that runs syncfleet's own run command, which applies a real policy: core and optional stages, transient and permanent error classification, exponential backoff with full jitter, a circuit breaker with half-open probes, pause and resume, and stale-run detection.

Commands that act on one service pick it with --service ID|NAME (an id, a name, or a unique prefix of an id), or take the service of the workspace found upward from the current directory (like git finds .git), or of --config FILE.

With --robot (or --json, -J, SYNCFLEET_ROBOT=1) every command prints exactly one JSON document on stdout: {\"ok\":true,\"data\":...,\"meta\":{\"elapsed_ms\":N}} or {\"ok\":false,\"error\":{\"code\",\"message\",\"suggestion\",\"actions\"}}. Human output goes to stdout, warnings and progress to stderr.";

pub const COMMANDS: &[CommandDoc] = &[
    CommandDoc {
        name: "install",
        description: "Install or update the scheduled service of the current workspace. install validates the workspace config, runs the doctor checks as a pre-flight (any failing check aborts), stores the token named by token_env_var in a 0600 env file, renders the scheduler artifacts, activates them, and only then writes the manifest: a failure leaves nothing behind.

Running install again is safe: every setting no flag names (--interval, --profile, --scheduler, --token-source, --name) keeps its installed value. With nothing changed it reports no_change; otherwise it reports what changed, each setting with its old and new value (interval, profile, platform, token, drifted artifacts...). This is also how a token is rotated: export the new value and run install; nothing else changes. --scheduler on an installed service moves it: the new schedule is activated, then the old scheduler's artifacts are disabled and removed, so exactly one schedule exists; if they cannot be removed, the new schedule is undone and the service stays where it was. Installs of one data directory take turns, so two parallel installs never claim one name or one workspace twice (the second gets NAME_CONFLICT). A --name (or the config's name) becomes the service id in a-z, 0-9 and '-': Latin letters with diacritics are transliterated to ASCII (an accented e becomes e, the German sharp s becomes ss) and the result names the change in a warning; a letter of another script is refused.

--at SPEC (repeatable) schedules on a calendar instead of an interval, in systemd's calendar syntax (man systemd.time, CALENDAR EVENTS): daily, hourly, Mon..Fri 09:30, *-*-* 02:00:00, *:0/20, Sat,Sun 10:00, each optionally ending with an IANA zone; --timezone TZ gives the zone for all of them (try one with syncfleet calendar SPEC). --catch-up latest (the default) runs a slot missed while the machine was off or asleep once at the next opportunity (systemd Persistent=, StartWhenAvailable on Task Scheduler, an @reboot line on cron, RunAtLoad on launchd, each checking for a missed slot since the last run); none waits for the next slot. Each service starts at a stable offset of its id within the period (within five minutes for periods over an hour): RandomizedDelaySec= with FixedRandomDelay=yes on systemd, shifted minutes elsewhere (cron 7-59/15). A schedule a scheduler cannot keep (seconds or a zone other than the machine's on cron, launchd and Task Scheduler; lists of minutes or more than 24 times a day on Task Scheduler) is refused with the nearest one it can. --at and --interval exclude each other; a reinstall without them keeps the installed schedule.

--dry-run validates everything and shows the artifacts and the commands it would run, writing and running nothing; tokens are never shown.

Batches: --workspace DIR (repeatable) and --workspaces-from FILE (one directory a line, - for stdin) install many workspaces at once. Each gets its own result; a failing one is reported and the others go on; the exit status is non-zero when any failed. The artifacts of the whole batch are written first and the scheduler is reloaded once, not once per service.",
        examples: &[
            ("syncfleet install --interval 15m --profile fast", "install the current workspace, syncing every 15 minutes with core stages only"),
            ("syncfleet install --at '*-*-* 02:00:00'", "sync nightly at 02:00, catching up once after a night the machine was off"),
            ("syncfleet install --at 'Mon..Fri 09:30' --timezone Europe/Berlin", "weekdays at 09:30 Berlin time, whatever the machine's zone"),
            ("syncfleet install --workspace ~/src/api --workspace ~/src/web", "two workspaces in one batch"),
            ("syncfleet install --workspaces-from workspaces.txt", "every workspace listed in the file, one directory a line (- reads stdin)"),
            ("syncfleet install --name backend", "use a readable service id instead of the hash"),
            ("syncfleet install --scheduler cron", "move an installed service to cron, keeping its other settings"),
            ("syncfleet --robot install --dry-run", "show the rendered units and planned commands as JSON"),
        ],
        response: &[
            ("platform", "string: systemd|launchd|schtasks|cron"),
            ("service_id", "string"),
            ("interval_seconds", "number (a calendar's shortest period)"),
            ("calendar", "{at: [string], timezone?, catch_up: latest|none} (calendar services only)"),
            ("first_run", "string"),
            ("first_run_iso", "string: RFC 3339 (calendar services)"),
            ("profile", "string: fast|balanced|full"),
            ("binary_path", "string"),
            ("service_files", "[string]"),
            ("sync_command", "string"),
            ("token_source", "string: env_file|embedded|system_env"),
            ("no_change", "bool"),
            ("changes", "[string]"),
            ("dry_run", "bool"),
            ("rendered", "[{path, content}] (dry run only)"),
        ],
    },
    CommandDoc {
        name: "uninstall",
        description: "Disable the schedule and remove the scheduler artifacts, the manifest, the token env file and any wrapper script. The status file, the run history and the logs are kept, and so is the service's history in the registry. Uninstalling a service that is not installed is not an error. The artifacts go from every scheduler that has some for the service: the one its manifest records, and any second schedule left on another one. An orphan (artifacts whose manifest is gone: a killed first install, a manifest deleted by hand) is removed by --service ID and by --all. --all, --tag and several --service values uninstall a batch with one scheduler reload, one line per service and a `Done: N removed, M failed` tally; --all and --tag ask for confirmation on a terminal, and need --yes in robot mode or without a terminal.",
        examples: &[
            ("syncfleet uninstall", "uninstall the current workspace's service"),
            ("syncfleet uninstall --service backend", "uninstall by name or id (also an orphan's id)"),
            ("syncfleet uninstall --tag team-a", "every service tagged team-a (asks first)"),
            ("syncfleet uninstall --all --yes", "every service and every orphan, without asking"),
        ],
        response: &[
            ("was_installed", "bool"),
            ("service_id", "string"),
            ("platform", "string: the scheduler removed from first (the recorded one)"),
            ("other_platforms", "[string]: further schedulers that had artifacts (omitted when none)"),
            ("orphan", "bool: there was no manifest (omitted when false)"),
            ("removed_schedules", "[string]: schedules stopped (omitted when none)"),
            ("removed_files", "[string]"),
            ("kept_files", "[string]"),
            ("services, removed, failed", "batches: each result, how many were removed, and [{target, error}]"),
        ],
    },
    CommandDoc {
        name: "list",
        description: "List the installed services with their workspace, platform, interval, profile, scheduler state, last run, next run (computed from the schedule, the service's offset and its last run) and outcome, and failure count. list reads the registry (registry.db in the data directory), which caches each service's state, so it is fast for thousands of services and never queries the scheduler per service (status and doctor check drift). With the registry unusable, list answers from the manifests with a warning. Filters: --state, --tag, --profile, --platform; --all includes uninstalled services.",
        examples: &[
            ("syncfleet list", "a table of every service"),
            ("syncfleet list --state backoff --tag team-a", "services of team-a that are backing off"),
            ("syncfleet list --all --format csv > fleet.csv", "every service ever installed, as CSV"),
        ],
        response: &[
            ("services", "[{service_id, name?, workspace_root, platform, interval_seconds, profile, tags, installed, uninstalled_at_iso?, scheduler_state, last_run_iso?, last_outcome?, next_run_iso?, consecutive_failures}]"),
            ("source", "string: registry|files"),
            ("warnings", "[string] (when it fell back to the files)"),
        ],
    },
    CommandDoc {
        name: "status",
        description: "Show whether the service is installed, what the scheduler reports, the scheduler state (idle, running, running_stale, degraded, backoff, half_open, paused, not_installed), the last run with its stage results, the recent runs, the backoff window, the pause reason, the runs skipped by reason (backoff, paused, locked, an unmet condition), and drift: the timer not loaded (platform), an artifact edited or missing (spec), or a different scheduled command (command). A workspace whose directory moved says so: status inside the moved workspace names the service it was installed as and prints the exact syncfleet move command that re-attaches it, and status of a service whose workspace is gone marks the workspace (gone) with the same command. A manifest or status file written by a newer syncfleet is an error (exit 23) saying to upgrade. Otherwise status exits 0.",
        examples: &[
            ("syncfleet status", "the current workspace's service"),
            ("syncfleet -J status --service backend | jq .data.scheduler_state", "one field for a script"),
        ],
        response: &[
            ("installed", "bool"),
            ("service_id", "string"),
            ("scheduler_state", "string: idle|running|running_stale|degraded|backoff|half_open|paused|not_installed"),
            ("next_run_iso", "string: RFC 3339, as the scheduler reports it or computed from the schedule (absent when unknown)"),
            ("calendar", "{at: [string], timezone?, catch_up} (calendar services only)"),
            ("missed_run_iso", "string: a calendar slot that passed with no run since, while not paused"),
            ("last_sync", "run record|null"),
            ("recent_runs", "[run record] (last 5)"),
            ("backoff", "{consecutive_failures, next_retry_iso, remaining_seconds}|null"),
            ("paused_reason", "string|null"),
            ("skipped", "{backoff, paused, locked, condition: {on_ac_power, reachable, quiet_hours}}: runs that did not start, by reason, never failures"),
            ("drift", "{platform_drift, spec_drift, command_drift, details?}|null"),
            ("workspace_missing", "bool (only when true: the workspace's syncfleet.json is gone)"),
            ("moved_from", "[{service_id, previous_workspace_root, command}] (not installed here, but probably moved from there)"),
        ],
    },
    CommandDoc {
        name: "logs",
        description: "Print the last lines of the service log (stage output with run and stage headers), follow it as it grows, or open it in $VISUAL, $EDITOR or less. In robot mode only the path and size are returned, plus the last lines with --tail (at most 100); --follow needs a terminal.",
        examples: &[
            ("syncfleet logs --tail 50", "the last 50 lines"),
            ("syncfleet logs --follow", "stream new lines until Ctrl-C"),
            ("syncfleet logs --open", "open the log in an editor"),
        ],
        response: &[("log_path", "string"), ("exists", "bool"), ("size_bytes", "number"), ("last_lines", "[string] (with --tail)")],
    },
    CommandDoc {
        name: "doctor",
        description: "Check the workspace config, the token (present, and valid through the config's token_check unless --offline), the binary, the data directory, the scheduler's prerequisites (systemctl --user reachable; lingering), and the service's install: drift, the scheduled binary, file modes, stale runs; lines of its runs.jsonl that are not readable runs (fix: repair); and temporary files left by interrupted writes. Each check passes, warns or fails with a suggested action. --fix applies only safe remedies: create directories, correct file modes, reload the scheduler, rebuild the registry, remove temporary files older than an hour (younger ones may belong to a writer still running). doctor exits 10 when any check fails.

Outside any workspace and without --service, doctor checks the whole fleet: the environment once, the registry (PRAGMA quick_check, pending imports), then every service: manifest present and readable, registry and files in agreement, artifacts present and undrifted, the scheduled binary still this syncfleet, file modes, stale runs, missed runs (none for more than twice the interval while not paused), history not yet imported; the workspace directory and config still in place (a moved workspace names `syncfleet move --service ID NEW_DIR`), every stage command of the profile found on the PATH recorded at install, permanent pauses (fail) and open circuit breakers (warn), a second schedule on another scheduler, and orphans: scheduler artifacts (unit, timer, plist, task, crontab block) whose manifest is gone, looked for on every scheduler. Each finding names the command that fixes it. --fix also removes orphans and second schedules. Single-service doctor checks the stage commands too.",
        examples: &[
            ("syncfleet doctor", "check everything"),
            ("syncfleet doctor --offline --fix", "no network; fix what is safe to fix"),
            ("syncfleet -J doctor | jq '.data.services[] | select(.overall != \"pass\")'", "outside any workspace: the services of the fleet that need attention"),
        ],
        response: &[
            ("checks", "[{name, status: pass|warn|fail|skip|fixed, message?, action?}]"),
            ("services", "[{service_id, checks, overall}] (fleet doctor)"),
            ("overall", "string: pass|warn|fail"),
        ],
    },
    CommandDoc {
        name: "pause",
        description: "Pause scheduled runs without uninstalling: the timer still fires, and each run exits at once, counted as skipped. A pause made during a run outlives the run. Pausing a paused service again without --reason keeps the first reason (an AUTH_FAILED pause stays one); with --reason the reason is replaced. --all, --tag and several --service values pause a batch (one result each); a --tag no installed service has is an error (SERVICE_NOT_FOUND) that lists the known tags.",
        examples: &[
            ("syncfleet pause --reason \"GitLab maintenance window\"", "pause with a reason shown by status"),
            ("syncfleet pause --all --reason maintenance", "pause the whole fleet"),
        ],
        response: &[("service_id", "string"), ("paused", "bool"), ("reason", "string"), ("already_paused", "bool"), ("reason_updated", "bool")],
    },
    CommandDoc {
        name: "resume",
        description: "Clear a pause of any kind (manual, a permanent error, or the circuit breaker), the failure count and the backoff window. resume runs nothing: the next scheduled run goes ahead (use trigger to run now).",
        examples: &[("syncfleet resume", "after fixing the cause of a pause"), ("syncfleet resume --tag team-a", "every service tagged team-a")],
        response: &[("was_paused", "bool"), ("previous_reason", "string|null"), ("consecutive_failures_cleared", "number")],
    },
    CommandDoc {
        name: "trigger",
        description: "Run the service now through exactly the policy of a scheduled run: a pause still applies (use resume), and so does a backoff window unless --ignore-backoff is given, and the workspace's conditions (on_ac_power, reachable, quiet_hours) unless --ignore-conditions is given: an unmet one skips the run with reason condition:<name> and says why. The result is recorded like any run. A status file that cannot be read stops the run before any stage with SERVICE_CORRUPT_STATE (exit 23), because it may hold a pause or a backoff: a corrupt one waits for repair, one from a newer syncfleet for an upgrade; the file is left untouched and the refusal is written to the service log.

Exit status: trigger exits 11 (SYNC_FAILED) when the run failed, so scripts can tell; a run skipped by a backoff window, an unmet condition or a pause exits 0. A batch (--all, --tag, several --service) exits with the first failure's status. The scheduler's own run command always exits 0, whatever the outcome: syncfleet's policy, not the scheduler, decides retries.",
        examples: &[
            ("syncfleet trigger", "run now"),
            ("syncfleet trigger --ignore-backoff", "run now even while backing off"),
            ("syncfleet trigger --ignore-conditions", "run now even in quiet hours, on battery or with an endpoint down"),
            ("syncfleet trigger --tag nightly", "run every service tagged nightly, one after the other"),
            ("syncfleet -J trigger --service api | jq .data.outcome", "exits 11 when the run failed; the outcome for a script"),
        ],
        response: &[
            ("action", "string: sync_completed|skipped|paused"),
            ("reason", "string (skipped: backoff|locked|condition:on_ac_power|condition:reachable|condition:quiet_hours; paused: the error code, CIRCUIT_BREAKER or MANUAL)"),
            ("outcome", "string: success|degraded|failed"),
            ("stage_results", "[{stage, success, optional, items_updated, error?, error_code?, attempts}]"),
            ("consecutive_failures", "number"),
            ("next_retry_iso", "string (in backoff)"),
        ],
    },
    CommandDoc {
        name: "move",
        description: "Re-attach a service to its workspace after the workspace directory moved (mv ~/src/a ~/src/b). NEW_DIR is the workspace's new directory, the one holding its syncfleet.json. The service keeps its id, its name, its history and status (a pause stays), and its settings: interval, profile, scheduler and token source. The manifest gets the new workspace_root and config_path and a recomputed identity hash, the registry follows, and the scheduler artifacts are rendered again and reactivated exactly as install does.

move refuses a NEW_DIR without a syncfleet.json (CONFIG_NOT_FOUND) and one that already is the workspace of another service (NAME_CONFLICT). Moving a service to where it already is changes nothing (no_change). status, inside a moved workspace or on a service whose workspace is gone, prints the exact move command.",
        examples: &[
            ("syncfleet move --service a1b2c3d4e5f6 ~/src/b", "after mv ~/src/a ~/src/b"),
            ("syncfleet move --service backend .", "re-attach the service named backend to the current directory"),
        ],
        response: &[
            ("service_id", "string (unchanged)"),
            ("previous_workspace_root", "string"),
            ("workspace_root", "string"),
            ("config_path", "string"),
            ("identity_hash", "string (recomputed)"),
            ("no_change", "bool"),
            ("service_files", "[string]"),
            ("paused_reason", "string (when still paused)"),
        ],
    },
    CommandDoc {
        name: "repair",
        description: "Check the manifest, the status file and the run history. A corrupt file is renamed to <name>.corrupt.<timestamp>, never deleted. The status file is reinitialized from the registry's cached state, so a pause, a backoff and the failure streak survive (a fresh state when the registry does not know the service). Lines of runs.jsonl that are not readable runs (not UTF-8, not JSON, not a run record) are moved, byte for byte, to runs.jsonl.bad-<timestamp>, and the file is rewritten atomically with every other line; records from a newer syncfleet stay. A corrupt manifest means reinstalling (install). repair works by the service id even when the manifest cannot be read. A file written by a newer syncfleet is not corrupt: repair refuses it with the same error as every other command (upgrade syncfleet) and leaves it untouched.",
        examples: &[("syncfleet repair", "after a SERVICE_CORRUPT_STATE error"), ("syncfleet repair --service a1b2c3d4e5f6", "by id, when the manifest cannot be read")],
        response: &[("repaired", "bool"), ("actions", "[{file, action: cleared|reinitialized|lines_moved_aside, backup?, restored_from_registry?, paused_reason?, lines_moved?, lines_kept?}]"), ("needs_reinstall", "bool")],
    },
    CommandDoc {
        name: "sync",
        description: "Run the workspace's stages once, with no service policy: no backoff, no pause, no status writes. It takes the pipeline lock, so it fails with LOCKED (exit 9) while a scheduled run is in progress, and it records a manual run in the history. It exits 11 when a core stage failed.",
        examples: &[("syncfleet sync", "sync the current workspace now"), ("syncfleet sync --profile full", "with every stage")],
        response: &[("action", "string: sync_completed"), ("outcome", "string"), ("stage_results", "[stage result]")],
    },
    CommandDoc {
        name: "history",
        description: "Show past runs from the registry, newest first: when, which service, how it was started (scheduled, trigger or manual), the outcome, the duration and the error code. Runs the registry missed (it was locked or unusable during the run) are imported from the history files first; lines of a history file that are not readable runs are skipped, never fatal. A run that was killed or crashed is shown with the outcome crashed once the next run of its service finds it. Filters: --service (repeatable), --since and --until (a duration ago like 7d or 12h, or an RFC 3339 time), --outcome, --trigger, --limit. --stages adds each run's stage results.",
        examples: &[
            ("syncfleet history --since 7d --outcome failed", "the failures of the last week"),
            ("syncfleet history --service backend --stages --limit 5", "the last five runs of one service, with stages"),
            ("syncfleet history --since 30d --format csv > runs.csv", "a month of runs as CSV"),
        ],
        response: &[("runs", "[{run_id, service_id, trigger, started_at_ms, duration_ms, outcome, error_code?, error_message?, profile?, stages?}]")],
    },
    CommandDoc {
        name: "report",
        description: "Summarize runs over a window (default the last 30 days), per service and for the whole fleet: the number of runs; success, degraded and failed counts and rates (failed includes crashed runs: killed or crashed runs, found stale by the next run, counted apart too and left out of the durations); p50 and p95 duration; the longest failure streak; the mean time to recover (from the first failure of a streak to the next good run); the last failure and its error code; and the invocations that were skipped, by reason (backoff, paused, locked, and any other reason recorded). Runs started by hand (sync) are counted but kept out of failure streaks and the time to recover. A service without runs in the window shows - for its rates (null in JSON, empty in CSV). --tag reports only the services with that tag. Each service's window is read as one range of the registry, so a report costs what its window and services hold, not the whole history; percentiles are exact (nearest rank). --by day or --by week adds a trend: a sparkline per service (the share of good runs per bucket, ▁ none to █ all) and a fleet trend table in which a stretch of empty buckets is one row. --format csv gives every statistic as numbers (rates as fractions, durations in ms, one SKIPPED_<REASON> column per reason).",
        examples: &[
            ("syncfleet report", "the last 30 days"),
            ("syncfleet report --since 7d --by day", "last week, with a daily trend"),
            ("syncfleet report --tag team-a --format csv", "one team's services, for a spreadsheet"),
            ("syncfleet -J report | jq '.data.services | sort_by(.failure_rate) | reverse | .[:5]'", "the five least reliable services"),
        ],
        response: &[
            ("since_iso, until_iso", "string"),
            ("buckets", "[string] (with --by): the first day (UTC) of each trend bucket"),
            ("fleet", "stats (service_id \"fleet\")"),
            ("services", "[{service_id, runs, success, degraded, failed, crashed (a part of failed), manual (runs by hand, not in streaks), success_rate, degraded_rate, failure_rate (null without runs), p50_duration_ms?, p95_duration_ms?, longest_failure_streak, mean_time_to_recover_ms?, last_failure_iso?, last_failure_code?, skipped: {backoff, paused, locked, <other reason>...}, trend?: [[runs, success, degraded, failed]] aligned with buckets, sparkline?}]"),
        ],
    },
    CommandDoc {
        name: "prune",
        description: "Remove runs older than --older-than from the registry and from each service's runs.jsonl, which is rewritten atomically under the service's pipeline lock. Every service keeps its 100 most recent runs whatever their age. --dry-run only counts.",
        examples: &[("syncfleet prune --older-than 90d", "keep three months of history"), ("syncfleet prune --older-than 30d --dry-run", "what would go")],
        response: &[("cutoff_iso", "string"), ("removed_runs", "number"), ("services", "[{service_id, removed, kept}]")],
    },
    CommandDoc {
        name: "reindex",
        description: "Rebuild the registry (registry.db) from the service files: manifests, status files and run histories. It is safe to run at any time and to repeat (run ids are unique). A registry that cannot be opened or fails its integrity check is moved aside to registry.db.corrupt.<timestamp> first, never deleted. Lines of a runs.jsonl that are not readable runs are skipped and counted, never fatal (repair moves them aside).",
        examples: &[("syncfleet reindex", "after a REGISTRY_ERROR, or when doctor says so")],
        response: &[("services", "number: service directories read"), ("installed", "number"), ("runs_imported", "number: new runs"), ("runs_total", "number"), ("lines_skipped", "number: history lines that are not readable runs"), ("bad_lines", "[{service_id, not_utf8, not_json, not_a_run, newer_schema}] (services with skipped lines)"), ("corrupt_backup", "string (when the old registry was moved aside)")],
    },
    CommandDoc {
        name: "metrics",
        description: "Print the fleet's Prometheus metrics in the text exposition format, from the registry: per installed service (labelled service_id, name, workspace, platform and tags) the runs by outcome, last run and last success times, a run duration histogram, consecutive failures, the scheduler state (one series per state, 1 for the current one), circuit breaker open, paused by kind, skips by reason, errors by code and class, the next run time and the schedule period; plus syncfleet_build_info. The same series are kept in files written atomically (mode 0644) in $SYNCFLEET_DATA_DIR/metrics, or in the directory --dir keeps for the whole fleet (scheduled runs included; --dir '' goes back to the default) or SYNCFLEET_METRICS_DIR names for one process: node_exporter's --collector.textfile.directory, which merges the families across files. The files are syncfleet-fleet.prom for the fleet-wide series and syncfleet-svc-<service id>.prom per installed service. A run rewrites only its own service's file; every other command that changes the fleet rewrites the files that changed and removes those of services no longer installed (and the single syncfleet.prom of earlier versions); this command brings every file up to date too.",
        examples: &[
            ("syncfleet metrics | promtool check metrics", "check the exposition"),
            ("syncfleet -J metrics | jq -r .data.path", "where the metrics files are"),
            ("syncfleet metrics --dir /var/lib/prometheus/node-exporter", "keep them in node_exporter's textfile directory from now on (and print them)"),
        ],
        response: &[("exposition", "string: the text exposition"), ("path", "string: the metrics directory"), ("written", "bool: whether the files were brought up to date")],
    },
    CommandDoc {
        name: "top",
        description: "A live dashboard of the fleet in the terminal, read from the registry every second: one row per installed service with its scheduler state (in colour), the last outcome, when it last ran and runs next, a sparkline of its recent runs (bar height = duration, × = a failed run) and its consecutive failures; paused and failing services first. Keys: arrows or j/k move, / filters by name, id or tag (Enter keeps the filter, Esc clears it), Enter opens a service's recent runs, the stages of its last run and its log tail (Esc goes back), t triggers, p pauses and r resumes the selected service after a y/n confirmation, q quits. --once prints one frame as plain text instead (every service gets a row; colour only with --color always), for scripts; with --robot it prints the rows as JSON.",
        examples: &[
            ("syncfleet top", "watch the fleet; / then a tag to narrow it"),
            ("syncfleet top --once --width 120", "one frame as text, 120 columns wide"),
            ("syncfleet -J top | jq '.data.services[] | select(.consecutive_failures > 0)'", "the failing services as JSON"),
        ],
        response: &[
            ("now_iso", "string: the frame's time"),
            ("services", "[{service_id, name?, tags, state, last_outcome?, last_run_iso?, next_run_iso?, consecutive_failures, recent: [{outcome, duration_ms}] (oldest first)}] (sorted as shown)"),
        ],
    },
    CommandDoc {
        name: "init",
        description: "Write a starter syncfleet.json in the current directory from --project and --stage/--optional-stage flags, or from a preset. An existing file is never overwritten without --force. The result is validated before it is written.",
        examples: &[
            ("syncfleet init --stage pull=\"git pull --ff-only\"", "a one-stage workspace"),
            ("syncfleet init --preset lore --project https://gitlab.example.com/group/api", "the four lore stages"),
        ],
        response: &[("path", "string"), ("stages", "[string]"), ("overwritten", "bool")],
    },
    CommandDoc {
        name: "calendar",
        description: "Show how a calendar expression is read: its normalized form and its next elapses, computed the way systemd-analyze calendar computes them (the same expressions are what install --at takes). Nothing is read or written.

SPEC is systemd's calendar syntax (systemd.time(7), CALENDAR EVENTS): [WEEKDAYS] [DATE] [TIME] [ZONE]. WEEKDAYS is a comma list of names or abbreviations with .. ranges (Mon..Fri, Sat,Sun); without it, any day. DATE is YEAR-MONTH-DAY or MONTH-DAY; without it, every day. TIME is HOUR:MINUTE or HOUR:MINUTE:SECOND, seconds with up to six decimals; without it, 00:00:00. Each date or time field is * (every value), a number, a range N..M, a repetition N/STEP (N, N+STEP, ...) or N..M/STEP, or a comma list of these. A ~ in place of the date's last - counts days from the end of the month (*-02~1 is the last day of February). Shorthands: minutely, hourly, daily, weekly (Monday), monthly, quarterly, semiannually, yearly (or annually).

ZONE is UTC or an IANA zone name (Europe/Berlin, America/New_York) at the end of the expression, or --timezone for an expression that names none; without either the fields are read in the local zone (TZ, else /etc/localtime). systemd's local abbreviations such as CET are refused: their meaning depends on the machine.

Daylight-saving changes are handled as systemd handles them. A local time that does not exist (spring forward: 02:30 in Berlin on the last Sunday of March) is skipped that day, and a repetition such as *:0/20 goes on from the first time that exists (01:40, then 03:00). A local time that occurs twice (fall back: 02:30 on the last Sunday of October) elapses once, at its first occurrence (summer time); the repeated hour is skipped, so hourly goes from 02:00 CEST to 03:00 CET. An expression in UTC never meets either.

--base-time takes RFC 3339 or systemd's 'YYYY-MM-DD HH:MM[:SS] [ZONE]'; without it the elapses follow now (SYNCFLEET_NOW when set). The human form shows each elapse in the local zone, in UTC, and in the expression's zone; the robot form gives them as RFC 3339 with the offset of the expression's zone (or the local zone). An expression that never elapses again (a past year, *-02-30) shows never, and an empty next_elapse list.",
        examples: &[
            ("syncfleet calendar 'Mon..Fri 09:30'", "weekdays at half past nine, local time"),
            ("syncfleet calendar '*-*-* 02:00:00 Europe/Berlin' --iterations 3", "nightly at 02:00 Berlin time, the next three runs"),
            ("syncfleet calendar '*:0/20'", "every 20 minutes: *-*-* *:00/20:00"),
            ("syncfleet calendar 'Sat,Sun 10:00' --timezone America/New_York", "weekends at ten in New York"),
            ("syncfleet calendar '*-*~1 23:00'", "the last day of every month at 23:00"),
            ("syncfleet calendar '*-*-* 02:30 Europe/Berlin' --base-time '2026-03-28 00:00 Europe/Berlin' --iterations 2", "around the spring-forward night: 28 March, then 30 March (02:30 does not exist on the 29th)"),
            ("syncfleet --robot calendar hourly --iterations 5 | jq -r '.data.next_elapse[]'", "the next five elapses as RFC 3339"),
        ],
        response: &[
            ("original", "string: the expression as given"),
            ("normalized", "string: systemd's normalized form, e.g. *-*-* 02:00:00 Europe/Berlin"),
            ("timezone", "string: the zone the expression is read in (an IANA name, UTC, or localtime)"),
            ("timezone_from", "expression | option | local"),
            ("base_time", "string: RFC 3339"),
            ("next_elapse", "[string]: RFC 3339 with the zone's offset, e.g. 2026-03-30T02:30:00+02:00 (empty: never)"),
        ],
    },
    CommandDoc {
        name: "completions",
        description: "Print a completion script for bash, zsh or fish. Ready-made scripts are also in the repository's completions/ directory.",
        examples: &[
            ("syncfleet completions bash > ~/.local/share/bash-completion/completions/syncfleet", "bash"),
            ("syncfleet completions fish > ~/.config/fish/completions/syncfleet.fish", "fish"),
        ],
        response: &[],
    },
    CommandDoc {
        name: "robot-docs",
        description: "Print a machine-readable description of every command: its flags with defaults, examples and the shape of its response.",
        examples: &[("syncfleet robot-docs | jq '.data.commands.install.flags'", "the flags of install")],
        response: &[("commands", "{name: {description, flags, examples, response_schema}}"), ("exit_codes", "[{code, exit, meaning}]")],
    },
];

pub fn for_command(name: &str) -> Option<&'static CommandDoc> {
    COMMANDS.iter().find(|d| d.name == name)
}

/// What the man pages and robot-docs say about a flag beyond its help.
pub struct ArgFacts {
    pub defaults: Vec<String>,
    pub possible_values: Vec<String>,
    pub env: Option<String>,
}

pub fn arg_facts(arg: &clap::Arg) -> ArgFacts {
    let takes_values = arg.get_action().takes_values();
    ArgFacts {
        defaults: if takes_values {
            arg.get_default_values()
                .iter()
                .map(|d| d.to_string_lossy().into_owned())
                .collect()
        } else {
            Vec::new()
        },
        possible_values: if takes_values {
            arg.get_possible_values()
                .iter()
                .filter(|p| !p.is_hide_set())
                .map(|p| p.get_name().to_string())
                .collect()
        } else {
            Vec::new()
        },
        env: arg.get_env().map(|e| e.to_string_lossy().into_owned()),
    }
}
