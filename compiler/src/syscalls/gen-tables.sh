#!/bin/sh
# gen-tables.sh - regenerate tables.rs (syscall numbers) and errno.rs
# (errno numbers) in this directory.
#
# Requirements (Debian/Ubuntu): gcc, libseccomp-dev, linux-libc-dev, and
# optionally rustfmt (used only to check the output is rustfmt-clean).
#   apt-get install -y gcc libseccomp-dev linux-libc-dev
#
# Usage: sh compiler/src/syscalls/gen-tables.sh
#
# The output depends only on the installed libseccomp and kernel headers:
# entries are sorted by name with LC_ALL=C, and no dates or host names are
# written, so rerunning with the same packages gives byte-identical files.
# dangerous.rs is hand-written and is not touched by this script.
set -eu

LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
errno_dir=${ERRNO_INCLUDE_DIR:-/usr/include/asm-generic}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

${CC:-gcc} -O2 -Wall -Wextra -o "$tmp/gen-tables" "$here/gen-tables.c" -lseccomp

seccomp_version=$("$tmp/gen-tables" --version)
seccomp_pkg=
if command -v dpkg-query >/dev/null 2>&1; then
	seccomp_pkg=$(dpkg-query -W -f='${Version}' libseccomp-dev 2>/dev/null || true)
fi
if [ -n "$seccomp_pkg" ]; then
	seccomp_desc="libseccomp $seccomp_version (Debian package libseccomp-dev $seccomp_pkg)"
else
	seccomp_desc="libseccomp $seccomp_version"
fi

# emit_table CONST ARCH DESCRIPTION
emit_table() {
	"$tmp/gen-tables" "$2" >"$tmp/raw.$2"
	sort -u "$tmp/raw.$2" >"$tmp/sorted.$2"
	# One number per name, one name per number: anything else means the
	# libseccomp table is not what this script expects.
	dups=$(cut -d' ' -f1 "$tmp/sorted.$2" | uniq -d)
	if [ -n "$dups" ]; then
		echo "gen-tables.sh: $2: name with several numbers: $dups" >&2
		exit 1
	fi
	dups=$(cut -d' ' -f2 "$tmp/sorted.$2" | sort -n | uniq -d)
	if [ -n "$dups" ]; then
		echo "gen-tables.sh: $2: number with several names: $dups" >&2
		exit 1
	fi
	count=$(wc -l <"$tmp/sorted.$2" | tr -d ' ')
	printf '\n/// %s: %s entries (libseccomp arch `%s`).\n' "$3" "$count" "$2"
	printf 'pub(crate) static %s: &[(&str, u32)] = &[\n' "$1"
	# Numbers above 0xffff (the ARM-private calls) are written in hex with
	# a digit separator, as clippy::unreadable_literal wants.
	awk '{
		if ($2 > 65535) {
			printf "    (\"%s\", 0x%04x_%04x),\n", $1, int($2 / 65536), $2 % 65536
		} else {
			printf "    (\"%s\", %s),\n", $1, $2
		}
	}' "$tmp/sorted.$2"
	printf '];\n'
}

{
	printf '%s\n' \
'//! Per-architecture Linux syscall name/number tables.' \
'//!' \
'//! GENERATED FILE - do not edit. Generated from the syscall tables of' \
"//! $seccomp_desc" \
'//! by `compiler/src/syscalls/gen-tables.sh` (with `gen-tables.c`); rerun' \
'//! that script to regenerate.' \
'//!' \
'//! Each table holds one `(name, number)` entry per syscall name that' \
'//! libseccomp knows for the architecture, sorted by name (byte order) so' \
'//! that `binary_search_by` on the name works. Names libseccomp only knows' \
'//! as pseudo-syscalls (negative numbers) on an architecture are left out.' \
'//!' \
'//! `X32` stores the raw x32 numbers as they appear in the kernel'"'"'s' \
'//! `syscall_64.tbl` ("common" and "x32" entries), WITHOUT' \
'//! `__X32_SYSCALL_BIT` (`0x4000_0000`). libseccomp reports x32 numbers with' \
'//! that bit set; the generator strips it. Add the bit back when comparing' \
'//! against `seccomp_data.nr` for an x32 task.' \
'//!' \
'//! `ARM` is the EABI table and includes the ARM-private syscalls at' \
'//! `__ARM_NR_BASE` (`0x000f_0000`) such as `breakpoint` and `set_tls`.'
	emit_table X86_64 x86_64 '64-bit x86'
	emit_table X32 x32 'x32 ABI, without the `0x4000_0000` bit'
	emit_table I386 x86 'i386'
	emit_table AARCH64 aarch64 'aarch64'
	emit_table ARM arm 'arm EABI'
	cat <<'RUST'

#[cfg(test)]
mod tests {
    use super::{AARCH64, ARM, I386, X32, X86_64};

    fn lookup(table: &[(&str, u32)], name: &str) -> Option<u32> {
        table
            .binary_search_by(|entry| entry.0.cmp(name))
            .ok()
            .and_then(|i| table.get(i))
            .map(|entry| entry.1)
    }

    #[test]
    fn sorted_by_name_with_unique_numbers() {
        for table in [X86_64, X32, I386, AARCH64, ARM] {
            assert!(
                table
                    .iter()
                    .zip(table.iter().skip(1))
                    .all(|(a, b)| a.0 < b.0),
                "table not strictly sorted by name"
            );
            let mut numbers: Vec<u32> = table.iter().map(|entry| entry.1).collect();
            numbers.sort_unstable();
            numbers.dedup();
            assert_eq!(numbers.len(), table.len(), "duplicate syscall number");
        }
    }

    #[test]
    fn x32_numbers_exclude_the_x32_bit() {
        assert!(X32.iter().all(|entry| entry.1 & 0x4000_0000 == 0));
    }

    #[test]
    fn known_numbers() {
        assert_eq!(lookup(X86_64, "read"), Some(0));
        assert_eq!(lookup(X86_64, "openat"), Some(257));
        assert_eq!(lookup(X32, "read"), Some(0));
        assert_eq!(lookup(X32, "rt_sigaction"), Some(512));
        assert_eq!(lookup(X32, "uselib"), None);
        assert_eq!(lookup(I386, "read"), Some(3));
        assert_eq!(lookup(I386, "socketcall"), Some(102));
        assert_eq!(lookup(AARCH64, "openat"), Some(56));
        assert_eq!(lookup(AARCH64, "open"), None);
        assert_eq!(lookup(ARM, "read"), Some(3));
        assert_eq!(lookup(ARM, "set_tls"), Some(0x000f_0005));
    }
}
RUST
} >"$tmp/tables.rs"

# errno: "#define ENAME <decimal>" lines define numbers; "#define ENAME EOTHER"
# lines are aliases (EWOULDBLOCK, EDEADLOCK) and get the target's number.
cat "$errno_dir/errno-base.h" "$errno_dir/errno.h" |
	awk '
	$1 == "#define" && $2 ~ /^E[A-Z0-9]+$/ {
		if ($3 ~ /^[0-9]+$/) { num[$2] = $3 }
		else if ($3 ~ /^E[A-Z0-9]+$/) { alias[$2] = $3 }
	}
	END {
		for (n in num) print n, num[n]
		for (a in alias) {
			if (!(alias[a] in num)) {
				print "unresolved errno alias " a > "/dev/stderr"
				exit 1
			}
			print a, num[alias[a]]
		}
	}' | sort -u >"$tmp/errno.txt"
errno_count=$(wc -l <"$tmp/errno.txt" | tr -d ' ')
if [ "$errno_count" -lt 130 ]; then
	echo "gen-tables.sh: only $errno_count errno names found in $errno_dir" >&2
	exit 1
fi
headers_pkg=
if command -v dpkg-query >/dev/null 2>&1; then
	headers_pkg=$(dpkg-query -W -f='${Version}' linux-libc-dev 2>/dev/null || true)
fi
if [ -n "$headers_pkg" ]; then
	headers_desc="(Debian package linux-libc-dev $headers_pkg)"
else
	headers_desc="(linux-libc-dev)"
fi

{
	printf '%s\n' \
'//! Linux errno names and numbers.' \
'//!' \
'//! GENERATED FILE - do not edit. Generated from the kernel UAPI headers' \
'//! `asm-generic/errno-base.h` and `asm-generic/errno.h`' \
"//! $headers_desc" \
'//! by `compiler/src/syscalls/gen-tables.sh`; rerun that script to' \
'//! regenerate.' \
'//!' \
'//! These are the generic Linux values, shared by `x86_64`, x32, i386,' \
'//! aarch64 and arm (alpha, mips, parisc and sparc differ and are not' \
'//! covered). Sorted by name (byte order) for `binary_search_by`.' \
'//! The header aliases `EWOULDBLOCK` (= `EAGAIN`) and `EDEADLOCK`' \
'//! (= `EDEADLK`) are included, so a number can have more than one name.' \
'//! glibc-only names such as `ENOTSUP` are not.' \
'' \
"/// Errno \`(name, number)\` pairs: $errno_count entries."
	printf 'pub(crate) static ERRNOS: &[(&str, u32)] = &[\n'
	awk '{ printf "    (\"%s\", %s),\n", $1, $2 }' "$tmp/errno.txt"
	printf '];\n'
	cat <<'RUST'

#[cfg(test)]
mod tests {
    use super::ERRNOS;

    fn lookup(name: &str) -> Option<u32> {
        ERRNOS
            .binary_search_by(|entry| entry.0.cmp(name))
            .ok()
            .and_then(|i| ERRNOS.get(i))
            .map(|entry| entry.1)
    }

    #[test]
    fn sorted_by_name() {
        assert!(ERRNOS
            .iter()
            .zip(ERRNOS.iter().skip(1))
            .all(|(a, b)| a.0 < b.0));
    }

    #[test]
    fn known_numbers() {
        assert_eq!(lookup("EPERM"), Some(1));
        assert_eq!(lookup("ENOENT"), Some(2));
        assert_eq!(lookup("EACCES"), Some(13));
        assert_eq!(lookup("ENOSYS"), Some(38));
        assert_eq!(lookup("EWOULDBLOCK"), lookup("EAGAIN"));
        assert_eq!(lookup("EHWPOISON"), Some(133));
        assert_eq!(lookup("ENOTSUP"), None);
    }
}
RUST
} >"$tmp/errno.rs"

if command -v rustfmt >/dev/null 2>&1; then
	rustfmt --edition 2021 --check "$tmp/tables.rs" "$tmp/errno.rs" >/dev/null ||
		echo "gen-tables.sh: warning: output is not rustfmt-clean" >&2
fi

cp "$tmp/tables.rs" "$here/tables.rs"
cp "$tmp/errno.rs" "$here/errno.rs"
echo "wrote $here/tables.rs and $here/errno.rs" >&2
