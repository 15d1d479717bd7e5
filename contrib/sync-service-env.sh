#!/bin/sh
# sync-service-env.sh [SOURCE] [TARGET]
#
# Merges the API keys that accessctl writes to ~/.service_env (lines NAME='value')
# into a project's .env, between the lines
#   # --- SERVICE CONNECTOR START ---
#   # --- SERVICE CONNECTOR END ---
# Every other line of TARGET is kept byte for byte. SOURCE defaults to
# $HOME/.service_env, TARGET to ./.env. See contrib/README.md.
#
# POSIX sh; needs grep, awk, mktemp, stat -c (GNU coreutils), tail, cmp, mv.
set -eu

START='# --- SERVICE CONNECTOR START ---'
END='# --- SERVICE CONNECTOR END ---'
PROG=sync-service-env

die() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit 1
}

case "${1-}" in
    -h|--help)
        printf 'usage: %s [SOURCE] [TARGET]   (defaults: $HOME/.service_env ./.env)\n' "$PROG"
        exit 0 ;;
esac
[ "$#" -le 2 ] || die "usage: $PROG [SOURCE] [TARGET]"

source_file=${1:-"${HOME:?HOME is not set}/.service_env"}
target=${2:-./.env}

tmp=
keys=
cleanup() {
    if [ -n "$tmp" ]; then rm -f -- "$tmp"; fi
    if [ -n "$keys" ]; then rm -f -- "$keys"; fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# What the source says: present (a block is wanted) or gone (the block is removed).
if [ -e "$source_file" ] || [ -L "$source_file" ]; then
    have_source=1
    [ -f "$source_file" ] || die "$source_file is not a regular file; $target left unchanged"
else
    have_source=0
fi

if [ -L "$target" ]; then
    die "$target is a symbolic link; refusing to replace it (pass the link's target instead)"
fi
if [ -e "$target" ]; then
    [ -f "$target" ] || die "$target is not a regular file"
    have_target=1
else
    have_target=0
    if [ "$have_source" -eq 0 ]; then
        exit 0  # nothing to remove, nothing to add
    fi
fi

dir=$(dirname -- "$target")
base=$(basename -- "$target")

# Temporary files sit next to the target so that the final mv is a rename on one file system.
tmp=$(mktemp "$dir/.$base.sync.XXXXXX") || die "cannot create a temporary file in $dir"
keys=$(mktemp "$dir/.$base.keys.XXXXXX") || die "cannot create a temporary file in $dir"

# Only plain NAME='value' lines: no comments, no markers, nothing a shell would expand.
if [ "$have_source" -eq 1 ]; then
    status=0
    LC_ALL=C grep -E "^[A-Z_][A-Z0-9_]*='[^']*'\$" -- "$source_file" >"$keys" || status=$?
    [ "$status" -le 1 ] || die "cannot read $source_file; $target left unchanged"
fi

# Does the target's last line end with a newline? (Command substitution drops a trailing
# newline, so the result is empty exactly when it does, or when the file is empty.)
final_newline=1
if [ "$have_target" -eq 1 ] && [ -s "$target" ]; then
    last=$(tail -c 1 -- "$target") || die "cannot read $target"
    [ -z "$last" ] || final_newline=0
    input=$target
else
    input=/dev/null
fi

# Lines are written newline-first ("pending"), so a foreign last line without a newline
# keeps lacking it; a block always ends with a newline. Malformed markers stop the sync.
status=0
KEYS=$keys START=$START END=$END HAVE_SOURCE=$have_source FINAL_NL=$final_newline \
LC_ALL=C awk '
    function emit(s) { if (pending) printf "\n"; printf "%s", s; pending = 1 }
    function block(   line) {
        if (done || !ENVIRON["HAVE_SOURCE"]) { done = 1; return }
        emit(ENVIRON["START"])
        while ((getline line < ENVIRON["KEYS"]) > 0) emit(line)
        close(ENVIRON["KEYS"])
        emit(ENVIRON["END"])
        done = 1
    }
    BEGIN { pending = 0; inside = 0; done = 0; foreign_last = 0 }
    {
        if ($0 == ENVIRON["START"]) {
            if (inside) { bad = "nested " ENVIRON["START"] " at line " NR; exit 3 }
            inside = 1; start_line = NR; block(); foreign_last = 0; next
        }
        if ($0 == ENVIRON["END"]) {
            if (!inside) { bad = ENVIRON["END"] " without a start marker at line " NR; exit 3 }
            inside = 0; foreign_last = 0; next
        }
        if (inside) next
        emit($0); foreign_last = 1
    }
    END {
        if (bad != "") { print bad > "/dev/stderr"; exit 3 }
        if (inside) { print "no end marker after line " start_line > "/dev/stderr"; exit 3 }
        if (!done && ENVIRON["HAVE_SOURCE"]) {
            if (pending) printf "\n"
            pending = 0
            block()
            foreign_last = 0
        }
        if (pending && !(foreign_last && !ENVIRON["FINAL_NL"])) printf "\n"
    }
' <"$input" >"$tmp" || status=$?
[ "$status" -eq 0 ] || die "cannot merge into $target (see above); $target left unchanged"

if [ "$have_target" -eq 1 ] && cmp -s -- "$tmp" "$target"; then
    exit 0  # already up to date: leave the file (and its timestamps) alone
fi

if [ "$have_target" -eq 1 ]; then
    mode=$(stat -c %a -- "$target") || die "cannot read the mode of $target"
else
    mode=600
fi
chmod "$mode" "$tmp" || die "cannot set the mode of the temporary file"
mv -f -- "$tmp" "$target" || die "cannot replace $target; it is left unchanged"
tmp=
exit 0
