# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_syncfleet_global_optspecs
    string join \n J/robot data-dir= config= color= q/quiet v/verbose h/help V/version
end

function __fish_syncfleet_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_syncfleet_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_syncfleet_using_subcommand
    set -l cmd (__fish_syncfleet_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c syncfleet -n "__fish_syncfleet_needs_command" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_needs_command" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_needs_command" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_needs_command" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "install" -d 'Install (or update) the scheduled sync service of a workspace'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "uninstall" -d 'Remove a service\'s schedule, manifest and token file (history is kept)'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "list" -d 'List installed services'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "status" -d 'Show a service\'s install state, scheduler state, last run and drift'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "logs" -d 'Show the service log'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "doctor" -d 'Check the environment and a service\'s install, and optionally fix safe problems'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "pause" -d 'Pause scheduled runs without uninstalling'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "resume" -d 'Clear a pause (manual, permanent error or circuit breaker) and the failure count'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "trigger" -d 'Run the service now, through the same policy as a scheduled run (exits 11 when the run fails)'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "move" -d 'Re-attach a service to its workspace\'s new directory after the workspace was moved'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "repair" -d 'Back up corrupt state files and reinitialize them'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "sync" -d 'Run the workspace\'s pipeline now, without any service policy'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "history" -d 'Show past runs from the registry'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "report" -d 'Success rates, durations, failure streaks and trends over a window'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "prune" -d 'Remove old runs from the registry and the history files'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "reindex" -d 'Rebuild the registry from the service files'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "metrics" -d 'Print the fleet\'s Prometheus metrics (the files node_exporter\'s textfile collector reads)'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "top" -d 'A live dashboard of the fleet in the terminal (--once: one frame as text)'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "init" -d 'Write a starter syncfleet.json for the current directory'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "calendar" -d 'Show a calendar expression\'s normalized form and next elapses, like systemd-analyze calendar'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "robot-docs" -d 'Describe every command, flag and response shape as JSON (for programs)'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "run" -d 'One scheduled run (invoked by the scheduler)'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "__complete" -d 'Print the service ids, names or tags the completion scripts offer'
complete -c syncfleet -n "__fish_syncfleet_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l workspace -d 'Install the workspace in this directory (or this syncfleet.json); repeat for a batch' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l workspaces-from -d 'Read workspace directories from FILE, one a line (`-`: stdin; # comments)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l interval -d 'How often to sync: 5m to 24h, in minutes or hours (e.g. 15m, 1h) [default: the installed one, else 30m]' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l at -d 'Run on a calendar instead of an interval (systemd calendar syntax: daily, Mon..Fri 09:30, *:0/20, optionally ending with a zone); repeat for several [default: the installed one]' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l timezone -d 'The time zone of the --at schedules (e.g. Europe/Berlin) [default: the installed one, else the machine\'s]' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l catch-up -d 'Calendar schedules: run once when slots were missed while off or asleep (latest), or wait for the next slot (none) [default: the installed one, else latest]' -r -f -a "latest\t'Run once at the next opportunity after missed slots (default)'
none\t'Wait for the next slot'"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l profile -d 'Which stages run: fast (core), balanced (+ balanced stages), full (all) [default: the installed one, else balanced]' -r -f -a "fast\t''
balanced\t''
full\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l token-source -d 'Where the token lives for scheduled runs [default: the installed one, else env-file]' -r -f -a "env-file\t'A 0600 env file the scheduler loads (default)'
embedded\t'Written into the scheduler artifact (warns)'"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l name -d 'A readable service name instead of the identity hash ([a-z0-9-], at most 32) [default: the installed one]' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l scheduler -d 'Scheduler backend; switching removes the old backend\'s schedule [default: the installed one, else systemd on Linux, launchd on macOS, schtasks on Windows]' -r -f -a "systemd\t'systemd user timer (Linux default)'
launchd\t'launchd user agent (macOS default)'
schtasks\t'Windows Task Scheduler (Windows default)'
cron\t'A block in the user\'s crontab (any Unix with a cron daemon)'"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -l dry-run -d 'Validate and render everything, but write and run nothing'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand install" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand uninstall" -l service -d 'Service id, name or unique id prefix; repeat for several (default: the service of the current workspace)' -r -f -a "(syncfleet __complete services 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand uninstall" -l tag -d 'Every installed service with this tag (repeatable: any of them; a tag no service has is an error)' -r -f -a "(syncfleet __complete tags 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand uninstall" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand uninstall" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand uninstall" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand uninstall" -l all -d 'Every installed service'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand uninstall" -s y -l yes -d 'Do not ask before uninstalling --all or --tag (required in robot mode and without a terminal)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand uninstall" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand uninstall" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand uninstall" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand uninstall" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand uninstall" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -l state -d 'Only services in this scheduler state (idle, running, degraded, backoff, half_open, paused…)' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -l tag -d 'Only services with this tag' -r -f -a "(syncfleet __complete tags 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -l profile -d 'Only services installed with this profile' -r -f -a "fast\t''
balanced\t''
full\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -l platform -d 'Only services of this scheduler backend (systemd, launchd, schtasks, cron)' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -l format -d 'Output format' -r -f -a "table\t''
json\t''
csv\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -l all -d 'Include uninstalled services (their history is kept)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -l from-files -d 'Read the manifests instead of the registry (slower; what list falls back to)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand list" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand status" -l service -d 'Service id, name or unique id prefix (default: the service of the current workspace)' -r -f -a "(syncfleet __complete services 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand status" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand status" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand status" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand status" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand status" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand status" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand status" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand status" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand logs" -l tail -d 'Show the last N lines (default 100)' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand logs" -l service -d 'Service id, name or unique id prefix (default: the service of the current workspace)' -r -f -a "(syncfleet __complete services 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand logs" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand logs" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand logs" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand logs" -l follow -d 'Keep printing new lines as they arrive (like tail -f)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand logs" -l open -d 'Open the log in $VISUAL, $EDITOR or less'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand logs" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand logs" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand logs" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand logs" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand logs" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand doctor" -l service -d 'Service id, name or unique id prefix (default: the service of the current workspace)' -r -f -a "(syncfleet __complete services 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand doctor" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand doctor" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand doctor" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand doctor" -l offline -d 'Skip checks that use the network (the workspace\'s token_check)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand doctor" -l fix -d 'Apply safe fixes: create directories, correct file modes, reload the scheduler'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand doctor" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand doctor" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand doctor" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand pause" -l reason -d 'Why (shown by status; without it, an already paused service keeps its reason)' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand pause" -l service -d 'Service id, name or unique id prefix; repeat for several (default: the service of the current workspace)' -r -f -a "(syncfleet __complete services 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand pause" -l tag -d 'Every installed service with this tag (repeatable: any of them; a tag no service has is an error)' -r -f -a "(syncfleet __complete tags 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand pause" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand pause" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand pause" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand pause" -l all -d 'Every installed service'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand pause" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand pause" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand pause" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand pause" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand pause" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand resume" -l service -d 'Service id, name or unique id prefix; repeat for several (default: the service of the current workspace)' -r -f -a "(syncfleet __complete services 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand resume" -l tag -d 'Every installed service with this tag (repeatable: any of them; a tag no service has is an error)' -r -f -a "(syncfleet __complete tags 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand resume" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand resume" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand resume" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand resume" -l all -d 'Every installed service'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand resume" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand resume" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand resume" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand resume" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand resume" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -l service -d 'Service id, name or unique id prefix; repeat for several (default: the service of the current workspace)' -r -f -a "(syncfleet __complete services 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -l tag -d 'Every installed service with this tag (repeatable: any of them; a tag no service has is an error)' -r -f -a "(syncfleet __complete tags 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -l ignore-backoff -d 'Run even inside a backoff window (a pause still applies: use resume)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -l ignore-conditions -d 'Run even when a condition of the workspace (on_ac_power, reachable, quiet_hours) is not met'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -l all -d 'Every installed service'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand trigger" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand move" -l service -d 'The moved service: id, name or unique id prefix' -r -f -a "(syncfleet __complete services 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand move" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand move" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand move" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand move" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand move" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand move" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand move" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand move" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand repair" -l service -d 'Service id, name or unique id prefix (default: the service of the current workspace)' -r -f -a "(syncfleet __complete services 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand repair" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand repair" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand repair" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand repair" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand repair" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand repair" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand repair" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand repair" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand sync" -l profile -d 'Which stages run (default: the installed profile, else balanced)' -r -f -a "fast\t''
balanced\t''
full\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand sync" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand sync" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand sync" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand sync" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand sync" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand sync" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand sync" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand sync" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -l service -d 'Only this service (id, name or unique id prefix); repeatable' -r -f -a "(syncfleet __complete services 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -l since -d 'Runs started at or after: a duration ago (7d, 12h, 30m) or an RFC 3339 time' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -l until -d 'Runs started before: a duration ago or an RFC 3339 time' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -l outcome -d 'Only runs with this outcome' -r -f -a "success\t''
degraded\t''
failed\t''
crashed\t'Runs that ended without recording a result (killed, crashed)'"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -l trigger -d 'Only runs started this way' -r -f -a "scheduled\t''
trigger\t''
manual\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -l limit -d 'At most N runs, newest first' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -l format -d 'Output format' -r -f -a "table\t''
json\t''
csv\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -l stages -d 'Include each run\'s stage results'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand history" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -l service -d 'Only this service (id, name or unique id prefix); repeatable' -r -f -a "(syncfleet __complete services 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -l tag -d 'Only services with this tag (reads only their runs)' -r -f -a "(syncfleet __complete tags 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -l since -d 'Start of the window: a duration ago (30d, 12h) or an RFC 3339 time' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -l until -d 'End of the window (default: now)' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -l by -d 'Add a trend table by day or by week, with a sparkline per service' -r -f -a "day\t''
week\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -l format -d 'Output format' -r -f -a "table\t''
json\t''
csv\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand report" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand prune" -l older-than -d 'Remove runs older than this (e.g. 90d); each service keeps its 100 most recent runs' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand prune" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand prune" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand prune" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand prune" -l dry-run -d 'Only count what would be removed'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand prune" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand prune" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand prune" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand prune" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand prune" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand reindex" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand reindex" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand reindex" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand reindex" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand reindex" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand reindex" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand reindex" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand reindex" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand metrics" -l dir -d 'Keep the fleet\'s metrics in DIR from now on (node_exporter\'s textfile directory), for every command and scheduled run; \'\' goes back to the data directory\'s metrics/ (SYNCFLEET_METRICS_DIR still wins)' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand metrics" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand metrics" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand metrics" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand metrics" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand metrics" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand metrics" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand metrics" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand metrics" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand top" -l width -d 'Columns of the --once frame (default: the terminal\'s width, else $COLUMNS, else 80)' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand top" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand top" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand top" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand top" -l once -d 'Print one frame as text on stdout and exit (for scripts; every service gets a row)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand top" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand top" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand top" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand top" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand top" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -l project -d 'A project URL (part of the service identity); repeatable' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -l stage -d 'A core stage: NAME=COMMAND (the command is split like a shell would); repeatable' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -l optional-stage -d 'An optional stage (its failure only degrades a run): NAME=COMMAND; repeatable' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -l preset -d 'Start from a preset instead of --stage flags' -r -f -a "lore\t'The four lore stages: issues and mrs (core), docs, embeddings'"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -l token-env-var -d 'The environment variable holding the token stages need' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -l name -d 'Default service name ([a-z0-9-], at most 32)' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -l tag -d 'A tag for fleet filters; repeatable' -r -f -a "(syncfleet __complete tags 2>/dev/null)"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -l force -d 'Overwrite an existing syncfleet.json'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand init" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand calendar" -l iterations -d 'How many next elapses to show' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand calendar" -l base-time -d 'Compute from this time instead of now: RFC 3339, or \'YYYY-MM-DD HH:MM[:SS] [ZONE]\' (ZONE: UTC or an IANA name; none is the local zone)' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand calendar" -l timezone -d 'Read the expression in this IANA zone (when it names none)' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand calendar" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand calendar" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand calendar" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand calendar" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand calendar" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand calendar" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand calendar" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand calendar" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand completions" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand completions" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand completions" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand completions" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand completions" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand completions" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand completions" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand completions" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand robot-docs" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand robot-docs" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand robot-docs" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand robot-docs" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand robot-docs" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand robot-docs" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand robot-docs" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand robot-docs" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand run" -l service-id -d 'The service to run (set by the scheduler)' -r
complete -c syncfleet -n "__fish_syncfleet_using_subcommand run" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand run" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand run" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand run" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand run" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand run" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand run" -s h -l help -d 'Print help'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand run" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand __complete" -l data-dir -d 'Data directory (default: $XDG_DATA_HOME/syncfleet or ~/.local/share/syncfleet)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand __complete" -l config -d 'Workspace config file (default: syncfleet.json found upward from the current directory)' -r -F
complete -c syncfleet -n "__fish_syncfleet_using_subcommand __complete" -l color -d 'When to use colour in human output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c syncfleet -n "__fish_syncfleet_using_subcommand __complete" -s J -l robot -l json -d 'Print one JSON document (the robot envelope) instead of human output'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand __complete" -s q -l quiet -d 'Print only errors and requested data'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand __complete" -s v -l verbose -d 'Log more to stderr (-v info, -vv debug)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand __complete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand __complete" -s V -l version -d 'Print version'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "install" -d 'Install (or update) the scheduled sync service of a workspace'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "uninstall" -d 'Remove a service\'s schedule, manifest and token file (history is kept)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "list" -d 'List installed services'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "status" -d 'Show a service\'s install state, scheduler state, last run and drift'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "logs" -d 'Show the service log'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "doctor" -d 'Check the environment and a service\'s install, and optionally fix safe problems'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "pause" -d 'Pause scheduled runs without uninstalling'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "resume" -d 'Clear a pause (manual, permanent error or circuit breaker) and the failure count'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "trigger" -d 'Run the service now, through the same policy as a scheduled run (exits 11 when the run fails)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "move" -d 'Re-attach a service to its workspace\'s new directory after the workspace was moved'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "repair" -d 'Back up corrupt state files and reinitialize them'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "sync" -d 'Run the workspace\'s pipeline now, without any service policy'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "history" -d 'Show past runs from the registry'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "report" -d 'Success rates, durations, failure streaks and trends over a window'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "prune" -d 'Remove old runs from the registry and the history files'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "reindex" -d 'Rebuild the registry from the service files'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "metrics" -d 'Print the fleet\'s Prometheus metrics (the files node_exporter\'s textfile collector reads)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "top" -d 'A live dashboard of the fleet in the terminal (--once: one frame as text)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "init" -d 'Write a starter syncfleet.json for the current directory'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "calendar" -d 'Show a calendar expression\'s normalized form and next elapses, like systemd-analyze calendar'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "completions" -d 'Print a shell completion script'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "robot-docs" -d 'Describe every command, flag and response shape as JSON (for programs)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "run" -d 'One scheduled run (invoked by the scheduler)'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "__complete" -d 'Print the service ids, names or tags the completion scripts offer'
complete -c syncfleet -n "__fish_syncfleet_using_subcommand help; and not __fish_seen_subcommand_from install uninstall list status logs doctor pause resume trigger move repair sync history report prune reindex metrics top init calendar completions robot-docs run __complete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
