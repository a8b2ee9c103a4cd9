#!/usr/bin/env bash
# Start / stop a REAL `systemd --user` manager on a machine whose PID 1 is not
# systemd (see /work/shared/ci-notes/real-schedulers.md), for end-to-end tests.
#
#   systemd-user.sh start   <user> <statedir>
#   systemd-user.sh stop    <statedir>
#   systemd-user.sh as-user <statedir> [VAR=value ...] -- cmd [args...]
#
# Exit codes: 0 ok, 2 usage error, 3 "cannot run here, skip" (start only).
# `start` writes <statedir>/systemd.env (shell-sourceable) and
# <statedir>/systemd.log (the manager's own stderr, log target = console).
# Tunables (env): E2E_MANAGER_TIMEOUT (s, default 1800), E2E_SOCKET_WAIT (s,
# default 20), E2E_RUNTIME_DIR (default /run/user/<uid>), E2E_PASSENV (extra
# variable names that as-user passes through; SYNCFLEET_* always are).
# shellcheck disable=SC2034 # state variables are saved indirectly (${!v})
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
readonly SYSTEMD_BIN=${E2E_SYSTEMD_BIN:-/lib/systemd/systemd}
readonly MANAGER_TIMEOUT=${E2E_MANAGER_TIMEOUT:-1800}
readonly SOCKET_WAIT=${E2E_SOCKET_WAIT:-20}
readonly USER_PATH=/usr/local/bin:/usr/bin:/bin
readonly CG=/sys/fs/cgroup
readonly STARTS="a systemd user manager"

usage() { usage_lines 5 7; }

# --- state ------------------------------------------------------------------
E2E_USER='' E2E_UID='' E2E_GID='' E2E_HOME='' E2E_USER_CREATED=0
XDG_RUNTIME_DIR='' E2E_RT_CREATED=0 E2E_FAKE_RUN_SYSTEMD='' E2E_LOG=''
E2E_KMSG_FIFO='' LOGGER_PID='' LOGGER_STARTTIME=''
MANAGER_PID='' MANAGER_STARTTIME='' TIMEOUT_PID='' TIMEOUT_STARTTIME=''
E2E_CGROUP_MODE='' E2E_CGROUP_LEAVES='' E2E_CGROUP_CREATED=''
STATEDIR='' ENVFILE=''

save_env() {
    local tmp="$ENVFILE.tmp" v
    {
        echo "# written by $ME start; consumed by '$ME stop' and '$ME as-user'"
        for v in E2E_USER E2E_UID E2E_GID E2E_HOME E2E_USER_CREATED \
                 XDG_RUNTIME_DIR E2E_RT_CREATED E2E_FAKE_RUN_SYSTEMD E2E_LOG \
                 E2E_KMSG_FIFO LOGGER_PID LOGGER_STARTTIME \
                 MANAGER_PID MANAGER_STARTTIME TIMEOUT_PID TIMEOUT_STARTTIME \
                 E2E_CGROUP_MODE E2E_CGROUP_LEAVES E2E_CGROUP_CREATED; do
            printf '%s=%q\n' "$v" "${!v}"
        done
    } >"$tmp"
    mv -f "$tmp" "$ENVFILE"
}

load_env() {
    STATEDIR=$1
    ENVFILE=$STATEDIR/systemd.env
    [[ -f $ENVFILE ]] || return 1
    # shellcheck disable=SC1090
    . "$ENVFILE"
}

# --- cgroups ----------------------------------------------------------------
# Sets E2E_CGROUP_MODE and CG_HIER (hierarchies to delegate, space-separated).
CG_HIER=''
cgroup_hierarchies() {
    if [[ "$(stat -fc %T "$CG" 2>/dev/null)" == cgroup2fs ]]; then
        E2E_CGROUP_MODE=unified-v2 CG_HIER=$CG
    elif [[ "$(stat -fc %T "$CG/systemd" 2>/dev/null)" == cgroupfs ]]; then
        if [[ "$(stat -fc %T "$CG/unified" 2>/dev/null)" == cgroup2fs ]]; then
            E2E_CGROUP_MODE=hybrid CG_HIER="$CG/systemd $CG/unified"
        else
            E2E_CGROUP_MODE=legacy-v1 CG_HIER=$CG/systemd
        fi
    else
        return 1
    fi
}

cgroup_procs_recursive() {
    local leaf
    for leaf in $E2E_CGROUP_LEAVES; do
        [[ -d $leaf ]] || continue
        find "$leaf" -name cgroup.procs -exec cat {} + 2>/dev/null || true
    done | sort -un
}

# --- stop (also used to clean up a failed start) -------------------------------
# kill_cgroup_procs: SIGKILL what is left in the delegated cgroup; true
# once nothing is.
kill_cgroup_procs() {
    local pid left
    left=$(cgroup_procs_recursive)
    [[ -z $left ]] && return 0
    for pid in $left; do kill -KILL "$pid" 2>/dev/null || true; done
    return 1
}

do_stop() {
    local d
    # SIGTERM makes a user manager start exit.target (clean shutdown).
    stop_proc "$MANAGER_PID" "$MANAGER_STARTTIME" 10 manager
    # Whatever the manager left in its delegated cgroup is ours to kill.
    wait_until 5 0.1 kill_cgroup_procs ||
        say "processes still in the delegated cgroup: $(cgroup_procs_recursive)"
    end_wrapper "$TIMEOUT_PID" "$TIMEOUT_STARTTIME" 3

    if same_proc "$LOGGER_PID" "$LOGGER_STARTTIME"; then
        # The FIFO keeps order: once this line is in the log, everything
        # the manager wrote before it is too.
        local mark="$ME: the manager has stopped"
        timeout 2 sh -c 'echo "$1" >"$2"' sh "$mark" "$E2E_KMSG_FIFO" 2>/dev/null || true
        wait_until 2 0.05 grep -qxF "$mark" "$E2E_LOG" ||
            say "the log reader did not drain within 2 s"
        kill -TERM "$LOGGER_PID" 2>/dev/null || true
    fi
    [[ -n $E2E_KMSG_FIFO ]] && rm -f -- "$E2E_KMSG_FIFO"

    # cgroups: the manager's subtree deepest-first, then the ancestors we made.
    for d in $E2E_CGROUP_LEAVES; do
        [[ -d $d ]] || continue
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null ||
            say "could not remove all of $d"
    done
    for d in $E2E_CGROUP_CREATED; do
        [[ -d $d ]] && { rmdir "$d" 2>/dev/null || say "could not rmdir $d"; }
    done

    if [[ -n $XDG_RUNTIME_DIR && -d $XDG_RUNTIME_DIR ]]; then
        # Defensive: only a per-uid dir owned by the test user.
        if [[ "$(stat -c %u "$XDG_RUNTIME_DIR")" == "$E2E_UID" && $E2E_UID != 0 ]]; then
            rm -rf -- "$XDG_RUNTIME_DIR"
        else
            say "not removing $XDG_RUNTIME_DIR (not owned by uid $E2E_UID)"
        fi
    fi
    [[ -n $E2E_FAKE_RUN_SYSTEMD ]] && rm -rf -- "$E2E_FAKE_RUN_SYSTEMD"
    [[ -n $STATEDIR ]] && rm -f -- "$STATEDIR/manager.pid"
    [[ -n $ENVFILE ]] && rm -f -- "$ENVFILE" "$ENVFILE.tmp"
    return 0
}

# --- start --------------------------------------------------------------------
cmd_start() {
    [[ $# -eq 2 ]] || usage
    E2E_USER=$1
    STATEDIR=$2
    [[ $E2E_USER =~ ^[a-z_][a-z0-9_-]*$ ]] || { say "bad user name: $E2E_USER"; exit 2; }
    [[ $(id -u) == 0 ]] || skip "must run as root"
    [[ -x $SYSTEMD_BIN ]] || skip "$SYSTEMD_BIN not found (apt-get install systemd)"
    local tool
    for tool in unshare setpriv timeout mount useradd; do
        command -v "$tool" >/dev/null || skip "$tool not found"
    done
    mkdir -p "$STATEDIR"
    STATEDIR=$(cd "$STATEDIR" && pwd)
    ENVFILE=$STATEDIR/systemd.env
    if [[ -f $ENVFILE ]]; then
        say "$ENVFILE exists: stopping the previous instance first"
        (load_env "$STATEDIR" && do_stop) || true
    fi

    cgroup_hierarchies || skip "no usable cgroup hierarchy under $CG"

    # From here on, any failure cleans up what was created so far.
    trap on_start_exit EXIT
    trap 'exit 130' INT TERM
    trap 'say "failed (line $LINENO): $BASH_COMMAND"' ERR

    if ! id -u "$E2E_USER" >/dev/null 2>&1; then
        useradd -m -s /bin/bash "$E2E_USER" || skip "useradd $E2E_USER failed"
        E2E_USER_CREATED=1
    fi
    E2E_UID=$(id -u "$E2E_USER")
    E2E_GID=$(id -g "$E2E_USER")
    E2E_HOME=$(getent passwd "$E2E_USER" | cut -d: -f6)
    [[ $E2E_UID != 0 ]] || skip "refusing to run a user manager for uid 0"
    if [[ ! -d $E2E_HOME ]]; then
        mkdir -p "$E2E_HOME" && chown "$E2E_UID:$E2E_GID" "$E2E_HOME"
    fi
    E2E_LOG=$STATEDIR/systemd.log
    save_env

    # Delegated cgroup for user@UID.service in every hierarchy.
    local h sub leaf d f
    sub=user.slice/user-$E2E_UID.slice/user@$E2E_UID.service
    for h in $CG_HIER; do # check all before creating anything
        leaf=$h/$sub
        if [[ -d $leaf && -n "$(find "$leaf" -name cgroup.procs -exec cat {} + 2>/dev/null)" ]]; then
            skip "$leaf already has processes: another manager for uid $E2E_UID is running"
        fi
    done
    local rt=${E2E_RUNTIME_DIR:-/run/user/$E2E_UID}
    if [[ -S $rt/systemd/private ]] &&
        setpriv --reuid="$E2E_UID" --regid="$E2E_GID" --init-groups env -i \
            XDG_RUNTIME_DIR="$rt" PATH="$USER_PATH" \
            systemctl --user show -p Version --value >/dev/null 2>&1; then
        skip "a systemd user manager already answers on $rt/systemd/private"
    fi
    for h in $CG_HIER; do
        leaf=$h/$sub
        # remember which levels we create (deepest first, for stop)
        d=$leaf
        local created=()
        while [[ $d != "$h" && ! -d $d ]]; do
            created=("$d" "${created[@]}")
            d=${d%/*}
        done
        mkdir -p "$leaf" || skip "cannot mkdir $leaf"
        local i
        for ((i = ${#created[@]} - 1; i >= 0; i--)); do
            [[ ${created[i]} == "$leaf" ]] && continue
            E2E_CGROUP_CREATED+="${E2E_CGROUP_CREATED:+ }${created[i]}"
        done
        E2E_CGROUP_LEAVES+="${E2E_CGROUP_LEAVES:+ }$leaf"
        chown "$E2E_UID:$E2E_GID" "$leaf"
        for f in cgroup.procs tasks cgroup.threads cgroup.subtree_control \
                 cgroup.clone_children notify_on_release; do
            [[ -e $leaf/$f ]] && chown "$E2E_UID:$E2E_GID" "$leaf/$f"
        done
        save_env
    done
    # E2E_CGROUP_CREATED is deepest-first per hierarchy; the leaves' own
    # subtrees are removed separately.

    # Runtime dir (0700, owned by the user).
    XDG_RUNTIME_DIR=$rt
    if [[ -e $XDG_RUNTIME_DIR ]]; then
        say "removing stale $XDG_RUNTIME_DIR"
        rm -rf -- "$XDG_RUNTIME_DIR"
    fi
    mkdir -p "${XDG_RUNTIME_DIR%/*}"
    install -d -m 0700 -o "$E2E_UID" -g "$E2E_GID" "$XDG_RUNTIME_DIR"
    E2E_RT_CREATED=1
    save_env

    # Private /run/systemd for the manager's mount namespace: it must contain
    # an empty system/ (the "booted with systemd" marker), nothing else.
    [[ -d /run/systemd ]] || skip "/run/systemd does not exist (need a mount point; not creating one)"
    E2E_FAKE_RUN_SYSTEMD=$STATEDIR/fake-run-systemd
    rm -rf -- "$E2E_FAKE_RUN_SYSTEMD"
    mkdir -p "$E2E_FAKE_RUN_SYSTEMD/system"
    # unit-root: where sandboxed units' mount namespaces are assembled. PID 1
    # creates it on a systemd-booted machine; without it every user unit with
    # PrivateUsers=yes + ProtectSystem=/PrivateTmp=/... fails with 226/NAMESPACE.
    mkdir -m 0700 "$E2E_FAKE_RUN_SYSTEMD/unit-root"
    save_env

    local pidfile=$STATEDIR/manager.pid
    rm -f "$pidfile"
    : >"$E2E_LOG"
    # No journal here, and the user manager logs to /dev/console only if it is
    # a tty: use log target kmsg, with /dev/kmsg (in the manager's namespace
    # only) bind-mounted onto a FIFO that a `cat` appends to systemd.log.
    # (A plain file would be clobbered: every forked child reopens /dev/kmsg
    # at offset 0.) The reader holds the FIFO read-write, so it never sees EOF.
    E2E_KMSG_FIFO=$STATEDIR/kmsg.fifo
    rm -f "$E2E_KMSG_FIFO"
    mkfifo -m 0600 "$E2E_KMSG_FIFO"
    chown "$E2E_UID:$E2E_GID" "$E2E_KMSG_FIFO"
    (cd / && exec timeout "$((MANAGER_TIMEOUT + 60))" cat 0<>"$E2E_KMSG_FIFO") \
        >>"$E2E_LOG" 2>&1 &
    LOGGER_PID=$!
    LOGGER_STARTTIME=$(proc_starttime "$LOGGER_PID")
    save_env

    # shellcheck disable=SC2016 # expanded by the inner sh
    local inner='set -eu
pidfile=$1 fake=$2 uid=$3 gid=$4 user=$5 home=$6 rt=$7 bin=$8 path=$9 kmsg=${10}
shift 10
for leaf in "$@"; do echo $$ >"$leaf/cgroup.procs"; done
mount --bind "$fake" /run/systemd
if [ -e /dev/kmsg ]; then mount --bind "$kmsg" /dev/kmsg; fi
echo $$ >"$pidfile"
exec setpriv --reuid="$uid" --regid="$gid" --init-groups \
  env -i PATH="$path" HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/sh \
  LANG=C.UTF-8 XDG_RUNTIME_DIR="$rt" SYSTEMD_LOG_TARGET=kmsg \
  "$bin" --user'
    # shellcheck disable=SC2086,SC2094 # LEAVES: paths without spaces; log is only appended to
    (cd / && exec timeout --kill-after=10 "$MANAGER_TIMEOUT" \
        unshare --mount --propagation private \
        sh -c "$inner" sh "$pidfile" "$E2E_FAKE_RUN_SYSTEMD" "$E2E_UID" "$E2E_GID" \
        "$E2E_USER" "$E2E_HOME" "$XDG_RUNTIME_DIR" "$SYSTEMD_BIN" "$USER_PATH" \
        "$E2E_KMSG_FIFO" $E2E_CGROUP_LEAVES) </dev/null >>"$E2E_LOG" 2>&1 &
    TIMEOUT_PID=$!
    TIMEOUT_STARTTIME=$(proc_starttime "$TIMEOUT_PID")
    save_env

    # Wait for the PID file (written just before exec) and the private socket.
    local t0=$SECONDS sock=$XDG_RUNTIME_DIR/systemd/private
    manager_up() {
        if [[ -z $MANAGER_PID && -s $pidfile ]]; then
            MANAGER_PID=$(<"$pidfile")
            MANAGER_STARTTIME=$(proc_starttime "$MANAGER_PID")
            save_env
        fi
        [[ -n $MANAGER_PID && -S $sock ]] && return 0
        if ! same_proc "$TIMEOUT_PID" "$TIMEOUT_STARTTIME"; then
            say "manager exited during startup; last log lines:"
            tail -n 20 "$E2E_LOG" >&2 || true
            skip "systemd --user did not come up"
        fi
        return 1
    }
    if ! wait_until "$SOCKET_WAIT" 0.1 manager_up; then
        tail -n 20 "$E2E_LOG" >&2 || true
        skip "no $sock after ${SOCKET_WAIT}s"
    fi
    rm -f "$pidfile"

    local version
    if ! version=$(cmd_as_user "$STATEDIR" -- systemctl --user show -p Version --value 2>&1) ||
        [[ -z $version ]]; then
        say "systemctl --user show failed: $version"
        skip "manager socket exists but systemctl --user cannot talk to it"
    fi
    trap - EXIT INT TERM ERR
    say "systemd --user $version running for $E2E_USER (uid $E2E_UID) pid $MANAGER_PID," \
        "cgroups: $E2E_CGROUP_MODE, XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR, took $((SECONDS - t0))s"
}

# --- as-user ------------------------------------------------------------------
cmd_as_user() {
    [[ $# -ge 1 ]] || usage
    local sd=$1
    shift
    local extra=()
    while [[ $# -gt 0 && $1 != -- ]]; do
        [[ $1 == [A-Za-z_]*=* ]] || { say "as-user: expected VAR=value or --, got '$1'"; exit 2; }
        extra+=("$1")
        shift
    done
    [[ ${1:-} == -- ]] || usage
    shift
    [[ $# -ge 1 ]] || usage
    load_env "$sd" || { say "no $sd/systemd.env: run '$ME start' first"; exit 2; }

    local envs=(PATH="$USER_PATH" HOME="$E2E_HOME" USER="$E2E_USER" LOGNAME="$E2E_USER"
        SHELL=/bin/sh LANG=C.UTF-8 XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR")
    local v
    for v in $(compgen -e); do
        if [[ $v == SYNCFLEET_* || " ${E2E_PASSENV:-} " == *" $v "* ]]; then
            envs+=("$v=${!v}")
        fi
    done
    envs+=("${extra[@]}")
    # Keep the caller's cwd if the user may enter it, else start in $HOME.
    # shellcheck disable=SC2016
    exec setpriv --reuid="$E2E_UID" --regid="$E2E_GID" --init-groups \
        env -i "${envs[@]}" /bin/sh -c 'cd -- "$0" 2>/dev/null || cd; unset OLDPWD; exec "$@"' "$PWD" "$@"
}

# --- main ---------------------------------------------------------------------
case ${1:-} in
start) shift; cmd_start "$@" ;;
stop)
    shift
    [[ $# -eq 1 ]] || usage
    if load_env "$1"; then do_stop; else say "nothing to stop in $1"; fi
    ;;
as-user) shift; cmd_as_user "$@" ;;
*) usage ;;
esac
