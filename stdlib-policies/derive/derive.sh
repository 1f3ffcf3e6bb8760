#!/bin/sh
# Re-derive the observed syscall lists behind std/runtime/*.policy.
#
# Runs each workload under `strace -f` (all threads and children, every syscall) and writes
# the sorted, de-duplicated names of the syscalls it made to observed/<runtime>.<arch>.txt.
# The crate's tests then check that every observed name is in the matching stdlib set.
#
# Needs: strace, python3 (/usr/bin/python3), node, busybox (static), rustc, and for the
# live check at the end libseccomp's Python binding.
#   apt-get install -y strace python3 nodejs busybox-static python3-seccomp
# Usage: stdlib-policies/derive/derive.sh            (from anywhere)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
arch=$(uname -m)
out="$here/observed"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# trace NAME CMD...: run CMD under strace, keep the syscall names.
trace() {
    name=$1
    shift
    strace -f -qq -o "$tmp/$name.trace" "$@" > "$tmp/$name.stdout"
    # Lines look like `1234 openat(AT_FDCWD, "x", O_RDONLY) = 3`, `1234 futex(... <unfinished ...>`
    # or `1234 exit_group(0) = ?`; `<... futex resumed>` lines repeat a name already seen.
    sed -nE 's/^[0-9]+ +([a-z_0-9]+)\(.*/\1/p' "$tmp/$name.trace" | sort -u > "$tmp/$name.names"
    echo "$name: $(wc -l < "$tmp/$name.names") distinct syscalls" >&2
}

# CPython: the interpreter the distribution ships (not a pyenv shim).
trace python /usr/bin/python3 "$here/python_workload.py" "$tmp/py"
cp "$tmp/python.names" "$out/python.$arch.txt"

# Node.js.
trace node node "$here/node_workload.js" "$tmp/node"
cp "$tmp/node.names" "$out/node.$arch.txt"

# Static binaries: busybox (static glibc) running a shell script, and a static-pie Rust
# program (std on glibc, +crt-static) doing files, threads and TCP.
bb=$(command -v busybox)
file "$bb" | grep -q 'statically linked' || { echo "busybox is not static: $bb" >&2; exit 1; }
trace busybox "$bb" sh "$here/static_workload.sh" "$tmp/bb"
rustc -O -C target-feature=+crt-static -o "$tmp/static_workload" "$here/static_workload.rs"
trace rust_static "$tmp/static_workload" "$tmp/rs"
sort -u "$tmp/busybox.names" "$tmp/rust_static.names" > "$out/static.$arch.txt"

echo "wrote $out/{python,node,static}.$arch.txt" >&2

# Live check: run every workload again under a seccomp filter built from its stdlib set
# (default EPERM, clone3 ENOSYS). Needs libseccomp's Python binding (python3-seccomp).
if /usr/bin/python3 -c 'import seccomp' 2>/dev/null; then
    live() {
        set_name=$1
        shift
        if /usr/bin/python3 "$here/live_check.py" "$set_name" "$@" > "$tmp/live.stdout"; then
            echo "live: $set_name ran $1 cleanly" >&2
        else
            echo "live: $set_name FAILED running $*" >&2
            exit 1
        fi
    }
    live python /usr/bin/python3 "$here/python_workload.py" "$tmp/live-py"
    live node node "$here/node_workload.js" "$tmp/live-node"
    live static_binary "$bb" sh "$here/static_workload.sh" "$tmp/live-bb"
    live static_binary "$tmp/static_workload" "$tmp/live-rs"
else
    echo "live: skipped (apt-get install -y python3-seccomp)" >&2
fi
