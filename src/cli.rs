//! The command-line interface, in one file and free of other crate
//! imports, so man pages and completions are generated from exactly what
//! users run.

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Robot mode (--robot, --json, -J or SYNCFLEET_ROBOT=1) prints exactly one JSON
document on stdout: {\"ok\":true,\"data\":…,\"meta\":{\"elapsed_ms\":N}} or
{\"ok\":false,\"error\":{\"code\",\"message\",\"suggestion\",\"actions\"}}.
See syncfleet(1) for exit statuses and files.";

/// Scheduled, policy-driven sync services for every workspace, managed as a fleet.
#[derive(Debug, Parser)]
#[command(name = "syncfleet", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Print one JSON document (the robot envelope) instead of human output
    #[arg(
        long,
        short = 'J',
        visible_alias = "json",
        global = true,
        env = "SYNCFLEET_ROBOT",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub robot: bool,

    /// Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)
    #[arg(long, global = true, env = "SYNCFLEET_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Workspace config file (default: syncfleet.json found upward from the current directory)
    #[arg(long, global = true, env = "SYNCFLEET_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// When to use colour in human output
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Print only errors and requested data
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log more to stderr (-v info, -vv debug)
    #[arg(long, short, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    Fast,
    Balanced,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenSourceArg {
    /// A 0600 env file the scheduler loads (default)
    EnvFile,
    /// Written into the scheduler artifact (warns)
    Embedded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CatchUpArg {
    /// Run once at the next opportunity after missed slots (default)
    Latest,
    /// Wait for the next slot
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedulerArg {
    /// systemd user timer (Linux default)
    Systemd,
    /// launchd user agent (macOS default)
    Launchd,
    /// Windows Task Scheduler (Windows default)
    Schtasks,
    /// A block in the user's crontab (any Unix with a cron daemon)
    Cron,
}

/// Output format of the fleet tables (robot mode always prints the envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutcomeArg {
    Success,
    Degraded,
    Failed,
    /// Runs that ended without recording a result (killed, crashed)
    Crashed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TriggerArg {
    Scheduled,
    Trigger,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BucketArg {
    Day,
    Week,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install (or update) the scheduled sync service of a workspace
    Install(InstallArgs),
    /// Remove a service's schedule, manifest and token file (history is kept)
    Uninstall(UninstallArgs),
    /// List installed services
    List(ListArgs),
    /// Show a service's install state, scheduler state, last run and drift
    Status(ServiceSelector),
    /// Show the service log
    Logs(LogsArgs),
    /// Check the environment and a service's install, and optionally fix safe problems
    Doctor(DoctorArgs),
    /// Pause scheduled runs without uninstalling
    Pause(PauseArgs),
    /// Clear a pause (manual, permanent error or circuit breaker) and the failure count
    Resume(ResumeArgs),
    /// Run the service now, through the same policy as a scheduled run (exits 11 when the run fails)
    Trigger(TriggerArgs),
    /// Re-attach a service to its workspace's new directory after the workspace was moved
    Move(MoveArgs),
    /// Back up corrupt state files and reinitialize them
    Repair(ServiceSelector),
    /// Run the workspace's pipeline now, without any service policy
    Sync(SyncArgs),
    /// Show past runs from the registry
    History(HistoryArgs),
    /// Success rates, durations, failure streaks and trends over a window
    Report(ReportArgs),
    /// Remove old runs from the registry and the history files
    Prune(PruneArgs),
    /// Rebuild the registry from the service files
    Reindex(ReindexArgs),
    /// Print the fleet's Prometheus metrics (the files node_exporter's textfile collector reads)
    Metrics(MetricsArgs),
    /// A live dashboard of the fleet in the terminal (--once: one frame as text)
    Top(TopArgs),
    /// Write a starter syncfleet.json for the current directory
    Init(InitArgs),
    /// Show a calendar expression's normalized form and next elapses, like systemd-analyze calendar
    Calendar(CalendarArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Describe every command, flag and response shape as JSON (for programs)
    RobotDocs,
    /// One scheduled run (invoked by the scheduler)
    #[command(hide = true)]
    Run(RunArgs),
    /// Print the service ids, names or tags the completion scripts offer
    #[command(name = "__complete", hide = true)]
    Complete(CompleteArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServiceSelector {
    /// Service id, name or unique id prefix (default: the service of the current workspace)
    #[arg(long, value_name = "ID|NAME")]
    pub service: Option<String>,
}

/// Which services a fleet command acts on: `--service` (repeatable),
/// `--tag`, or `--all`; none = the service of the current workspace.
#[derive(Debug, Clone, Default, Args)]
pub struct FleetSelector {
    /// Service id, name or unique id prefix; repeat for several (default: the service of the current workspace)
    #[arg(long = "service", value_name = "ID|NAME")]
    pub services: Vec<String>,
    /// Every installed service with this tag (repeatable: any of them; a tag no service has is an error)
    #[arg(long = "tag", value_name = "TAG", conflicts_with = "services")]
    pub tags: Vec<String>,
    /// Every installed service
    #[arg(long, conflicts_with_all = ["services", "tags"])]
    pub all: bool,
}

impl FleetSelector {
    /// More than one service may be meant: the result is a batch.
    pub fn is_batch(&self) -> bool {
        self.all || !self.tags.is_empty() || self.services.len() > 1
    }
}

#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Install the workspace in this directory (or this syncfleet.json); repeat for a batch
    #[arg(long = "workspace", value_name = "DIR")]
    pub workspaces: Vec<PathBuf>,
    /// Read workspace directories from FILE, one a line (`-`: stdin; # comments)
    #[arg(long, value_name = "FILE")]
    pub workspaces_from: Option<PathBuf>,
    /// How often to sync: 5m to 24h, in minutes or hours (e.g. 15m, 1h) [default: the installed one, else 30m]
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Run on a calendar instead of an interval (systemd calendar syntax: daily, Mon..Fri 09:30, *:0/20, optionally ending with a zone); repeat for several [default: the installed one]
    #[arg(long = "at", value_name = "SPEC", conflicts_with = "interval")]
    pub at: Vec<String>,
    /// The time zone of the --at schedules (e.g. Europe/Berlin) [default: the installed one, else the machine's]
    #[arg(long, value_name = "TZ", conflicts_with = "interval")]
    pub timezone: Option<String>,
    /// Calendar schedules: run once when slots were missed while off or asleep (latest), or wait for the next slot (none) [default: the installed one, else latest]
    #[arg(long, value_enum, value_name = "POLICY", conflicts_with = "interval")]
    pub catch_up: Option<CatchUpArg>,
    /// Which stages run: fast (core), balanced (+ balanced stages), full (all) [default: the installed one, else balanced]
    #[arg(long, value_enum)]
    pub profile: Option<ProfileArg>,
    /// Where the token lives for scheduled runs [default: the installed one, else env-file]
    #[arg(long, value_enum)]
    pub token_source: Option<TokenSourceArg>,
    /// A readable service name instead of the identity hash ([a-z0-9-], at most 32) [default: the installed one]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Scheduler backend; switching removes the old backend's schedule [default: the installed one, else systemd on Linux, launchd on macOS, schtasks on Windows]
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub scheduler: Option<SchedulerArg>,
    /// Validate and render everything, but write and run nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub select: FleetSelector,
    /// Do not ask before uninstalling --all or --tag (required in robot mode and without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    pub select: FleetSelector,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only services in this scheduler state (idle, running, degraded, backoff, half_open, paused…)
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Only services with this tag
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Only services installed with this profile
    #[arg(long, value_enum)]
    pub profile: Option<ProfileArg>,
    /// Only services of this scheduler backend (systemd, launchd, schtasks, cron)
    #[arg(long, value_name = "BACKEND")]
    pub platform: Option<String>,
    /// Include uninstalled services (their history is kept)
    #[arg(long)]
    pub all: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Read the manifests instead of the registry (slower; what list falls back to)
    #[arg(long)]
    pub from_files: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TopArgs {
    /// Print one frame as text on stdout and exit (for scripts; every service gets a row)
    #[arg(long)]
    pub once: bool,
    /// Columns of the --once frame (default: the terminal's width, else $COLUMNS, else 80)
    #[arg(long, value_name = "COLUMNS", requires = "once", value_parser = clap::value_parser!(u16).range(40..))]
    pub width: Option<u16>,
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Only this service (id, name or unique id prefix); repeatable
    #[arg(long = "service", value_name = "ID|NAME")]
    pub services: Vec<String>,
    /// Runs started at or after: a duration ago (7d, 12h, 30m) or an RFC 3339 time
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Runs started before: a duration ago or an RFC 3339 time
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only runs with this outcome
    #[arg(long, value_enum)]
    pub outcome: Option<OutcomeArg>,
    /// Only runs started this way
    #[arg(long, value_enum)]
    pub trigger: Option<TriggerArg>,
    /// At most N runs, newest first
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,
    /// Include each run's stage results
    #[arg(long)]
    pub stages: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Only this service (id, name or unique id prefix); repeatable
    #[arg(long = "service", value_name = "ID|NAME")]
    pub services: Vec<String>,
    /// Only services with this tag (reads only their runs)
    #[arg(long, value_name = "TAG", conflicts_with = "services")]
    pub tag: Option<String>,
    /// Start of the window: a duration ago (30d, 12h) or an RFC 3339 time
    #[arg(long, default_value = "30d", value_name = "WHEN")]
    pub since: String,
    /// End of the window (default: now)
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Add a trend table by day or by week, with a sparkline per service
    #[arg(long, value_enum, value_name = "BUCKET")]
    pub by: Option<BucketArg>,
    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Remove runs older than this (e.g. 90d); each service keeps its 100 most recent runs
    #[arg(long, value_name = "AGE")]
    pub older_than: String,
    /// Only count what would be removed
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ReindexArgs {}

#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Keep the fleet's metrics in DIR from now on (node_exporter's textfile directory), for every command and scheduled run; '' goes back to the data directory's metrics/ (SYNCFLEET_METRICS_DIR still wins)
    #[arg(long, value_name = "DIR", value_parser = clap::value_parser!(std::ffi::OsString))]
    pub dir: Option<std::ffi::OsString>,
}

#[derive(Debug, Clone, Args)]
pub struct CalendarArgs {
    /// A calendar expression in systemd's syntax, e.g. 'Mon..Fri 09:30 Europe/Berlin' (see DESCRIPTION)
    #[arg(value_name = "SPEC")]
    pub spec: String,
    /// How many next elapses to show
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub iterations: u32,
    /// Compute from this time instead of now: RFC 3339, or 'YYYY-MM-DD HH:MM[:SS] [ZONE]' (ZONE: UTC or an IANA name; none is the local zone)
    #[arg(long, value_name = "TIME")]
    pub base_time: Option<String>,
    /// Read the expression in this IANA zone (when it names none)
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Show the last N lines (default 100)
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "100")]
    pub tail: Option<usize>,
    /// Keep printing new lines as they arrive (like tail -f)
    #[arg(long, conflicts_with = "open")]
    pub follow: bool,
    /// Open the log in $VISUAL, $EDITOR or less
    #[arg(long)]
    pub open: bool,
    /// Service id, name or unique id prefix (default: the service of the current workspace)
    #[arg(long, value_name = "ID|NAME")]
    pub service: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Skip checks that use the network (the workspace's token_check)
    #[arg(long)]
    pub offline: bool,
    /// Apply safe fixes: create directories, correct file modes, reload the scheduler
    #[arg(long)]
    pub fix: bool,
    /// Service id, name or unique id prefix (default: the service of the current workspace)
    #[arg(long, value_name = "ID|NAME")]
    pub service: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PauseArgs {
    /// Why (shown by status; without it, an already paused service keeps its reason)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub select: FleetSelector,
}

#[derive(Debug, Clone, Args)]
pub struct TriggerArgs {
    /// Run even inside a backoff window (a pause still applies: use resume)
    #[arg(long)]
    pub ignore_backoff: bool,
    /// Run even when a condition of the workspace (on_ac_power, reachable, quiet_hours) is not met
    #[arg(long)]
    pub ignore_conditions: bool,
    #[command(flatten)]
    pub select: FleetSelector,
}

#[derive(Debug, Clone, Args)]
pub struct MoveArgs {
    /// The moved service: id, name or unique id prefix
    #[arg(long, value_name = "ID|NAME")]
    pub service: String,
    /// The workspace's new directory (the one holding its syncfleet.json)
    #[arg(value_name = "NEW_DIR")]
    pub new_dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// Which stages run (default: the installed profile, else balanced)
    #[arg(long, value_enum)]
    pub profile: Option<ProfileArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PresetArg {
    /// The four lore stages: issues and mrs (core), docs, embeddings
    Lore,
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// A project URL (part of the service identity); repeatable
    #[arg(long = "project", value_name = "URL")]
    pub projects: Vec<String>,
    /// A core stage: NAME=COMMAND (the command is split like a shell would); repeatable
    #[arg(long = "stage", value_name = "NAME=COMMAND")]
    pub stages: Vec<String>,
    /// An optional stage (its failure only degrades a run): NAME=COMMAND; repeatable
    #[arg(long = "optional-stage", value_name = "NAME=COMMAND")]
    pub optional_stages: Vec<String>,
    /// Start from a preset instead of --stage flags
    #[arg(long, value_enum, conflicts_with_all = ["stages", "optional_stages"])]
    pub preset: Option<PresetArg>,
    /// The environment variable holding the token stages need
    #[arg(long, value_name = "VAR")]
    pub token_env_var: Option<String>,
    /// Default service name ([a-z0-9-], at most 32)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A tag for fleet filters; repeatable
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Overwrite an existing syncfleet.json
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: ShellArg,
}

/// What `__complete` prints, one a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompleteWhat {
    /// Installed services' ids and names
    Services,
    /// Installed services' tags
    Tags,
}

#[derive(Debug, Clone, Args)]
pub struct CompleteArgs {
    #[arg(value_enum)]
    pub what: CompleteWhat,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The service to run (set by the scheduler)
    #[arg(long, value_name = "ID")]
    pub service_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("syncfleet").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn clap_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn install_defaults_follow_the_plan() {
        match parse(&["install"]).command {
            Command::Install(a) => {
                // Unset flags keep what is installed: no defaults here.
                assert_eq!(a.interval, None);
                assert_eq!(a.profile, None);
                assert_eq!(a.token_source, None);
                assert!(a.name.is_none() && !a.dry_run);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn install_all_flags() {
        match parse(&[
            "install",
            "--interval",
            "1h",
            "--profile",
            "fast",
            "--token-source",
            "embedded",
            "--name",
            "my-project",
            "--dry-run",
        ])
        .command
        {
            Command::Install(a) => {
                assert_eq!(a.interval.as_deref(), Some("1h"));
                assert_eq!(a.profile, Some(ProfileArg::Fast));
                assert_eq!(a.token_source, Some(TokenSourceArg::Embedded));
                assert_eq!(a.name.as_deref(), Some("my-project"));
                assert!(a.dry_run);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn robot_aliases_and_globals_anywhere() {
        for flag in ["--robot", "--json", "-J"] {
            assert!(parse(&[flag, "status"]).global.robot);
            assert!(parse(&["status", flag]).global.robot);
        }
        let cli = parse(&[
            "status",
            "--data-dir",
            "/d",
            "--config",
            "/c.json",
            "--service",
            "x",
        ]);
        assert_eq!(
            cli.global.data_dir.as_deref(),
            Some(std::path::Path::new("/d"))
        );
        assert!(
            matches!(cli.command, Command::Status(ServiceSelector { service: Some(ref s) }) if s == "x")
        );
    }

    #[test]
    fn logs_tail_optional_value() {
        match parse(&["logs", "--tail"]).command {
            Command::Logs(a) => assert_eq!(a.tail, Some(100)),
            other => panic!("{other:?}"),
        }
        match parse(&["logs", "--tail", "50", "--follow"]).command {
            Command::Logs(a) => assert!(a.tail == Some(50) && a.follow),
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["syncfleet", "logs", "--follow", "--open"]).is_err());
    }

    #[test]
    fn run_is_hidden_and_needs_an_id() {
        let help = Cli::command().render_help().to_string();
        assert!(!help.contains("\n  run "), "{help}");
        assert!(Cli::try_parse_from(["syncfleet", "run"]).is_err());
        assert!(
            matches!(parse(&["run", "--service-id", "abc"]).command, Command::Run(RunArgs { ref service_id }) if service_id == "abc")
        );
    }

    #[test]
    fn move_needs_a_service_and_a_directory() {
        match parse(&["move", "--service", "abc", "/new/place"]).command {
            Command::Move(a) => {
                assert_eq!(a.service, "abc");
                assert_eq!(a.new_dir, std::path::Path::new("/new/place"));
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["syncfleet", "move", "/new/place"]).is_err());
        assert!(Cli::try_parse_from(["syncfleet", "move", "--service", "abc"]).is_err());
    }

    #[test]
    fn the_completion_helper_is_hidden() {
        let help = Cli::command().render_help().to_string();
        assert!(!help.contains("__complete"), "{help}");
        assert!(matches!(
            parse(&["__complete", "tags"]).command,
            Command::Complete(CompleteArgs {
                what: CompleteWhat::Tags
            })
        ));
    }

    #[test]
    fn doctor_trigger_pause_flags() {
        assert!(matches!(
            parse(&["doctor", "--offline", "--fix"]).command,
            Command::Doctor(DoctorArgs {
                offline: true,
                fix: true,
                ..
            })
        ));
        assert!(matches!(
            parse(&["trigger", "--ignore-backoff"]).command,
            Command::Trigger(TriggerArgs {
                ignore_backoff: true,
                ..
            })
        ));
        assert!(matches!(
            parse(&["pause", "--reason", "maint"]).command,
            Command::Pause(PauseArgs {
                reason: Some(_),
                ..
            })
        ));
        assert!(
            Cli::try_parse_from(["syncfleet", "uninstall", "--all", "--service", "x"]).is_err()
        );
    }
}
