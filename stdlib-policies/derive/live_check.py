"""Run a command under a seccomp filter built from one stdlib syscall set.

    /usr/bin/python3 live_check.py SET COMMAND [ARGS...]

Reads the `syscalls` sets in std/runtime/*.policy, expands SET, installs an allow-list
filter (libseccomp's Python binding, package python3-seccomp) whose default answer is
EPERM, answers `clone3` with ENOSYS as the seccomp target must (leak class 5 of the security model), and
execs COMMAND under it. A syscall the set lacks shows up as an EPERM failure in the
workload. Names that do not exist on the running architecture are skipped.

This is a check on the sets, not policyc's own enforcement (policyc's seccomp target and
`policyc exec` are the real thing).
"""

import errno
import os
import pathlib
import re
import sys

import seccomp

here = pathlib.Path(__file__).resolve().parent
runtime = here.parent / "std" / "runtime"


def load_sets():
    sets = {}
    for path in sorted(runtime.glob("*.policy")):
        text = "\n".join(
            line.split("#", 1)[0] for line in path.read_text().splitlines()
            if not line.lstrip().startswith("///")
        )
        for name, body in re.findall(r"syscalls\s+(\w+)\s*\{([^}]*)\}", text):
            sets[name] = [m for m in re.split(r"[\s,]+", body) if m]
    return sets


def expand(sets, name, out):
    if name not in sets:
        out.add(name)
        return out
    for member in sets[name]:
        expand(sets, member, out)
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    names = expand(load_sets(), sys.argv[1], set())
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    skipped = []
    for name in sorted(names):
        if name == "clone3":
            continue
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError, OSError):
            skipped.append(name)
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    print(f"live_check: {sys.argv[1]}: {len(names)} names, not on this arch: {skipped}",
          file=sys.stderr)
    f.load()
    os.execvp(sys.argv[2], sys.argv[2:])


main()
