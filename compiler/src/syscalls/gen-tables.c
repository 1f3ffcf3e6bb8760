/*
 * gen-tables.c - dump libseccomp's per-architecture syscall tables.
 *
 * Used by gen-tables.sh to regenerate tables.rs; not part of the build.
 *
 * Build: gcc -O2 -Wall -Wextra -o gen-tables gen-tables.c -lseccomp
 * Usage: gen-tables ARCH   (ARCH is one of x86_64, x32, x86, aarch64, arm)
 *        gen-tables --version   (prints the runtime libseccomp version)
 *
 * Prints one "NAME NUMBER" line per syscall name known to libseccomp for
 * ARCH (unsorted, possibly with duplicates; the script sorts and dedups).
 * Numbers come from seccomp_syscall_resolve_name_arch(), i.e. they are the
 * canonical numbers for the name. Negative values (libseccomp
 * pseudo-syscalls for names the arch lacks) are skipped. For x32 the
 * __X32_SYSCALL_BIT (0x40000000) that libseccomp includes is removed, so
 * the output holds the raw syscall_64.tbl "common"/"x32" numbers.
 */
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define X32_SYSCALL_BIT 0x40000000U
#define SCAN_MAX 1100
/* ARM private syscalls (__ARM_NR_BASE = 0x0f0000). */
#define ARM_NR_BASE 0x0f0000
#define ARM_NR_SPAN 0x20

static int scan(uint32_t arch, int base, int count, int strip_x32)
{
	int n;

	for (n = base; n < base + count; n++) {
		char *name = seccomp_syscall_resolve_num_arch(arch, n);
		int num;

		if (name == NULL)
			continue;
		num = seccomp_syscall_resolve_name_arch(arch, name);
		if (num >= 0) {
			unsigned int u = (unsigned int)num;

			if (strip_x32)
				u &= ~X32_SYSCALL_BIT;
			if (printf("%s %u\n", name, u) < 0) {
				free(name);
				return -1;
			}
		}
		free(name);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *a;
	uint32_t arch;
	int rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s x86_64|x32|x86|aarch64|arm|--version\n", argv[0]);
		return 2;
	}
	a = argv[1];
	if (strcmp(a, "--version") == 0) {
		const struct scmp_version *v = seccomp_version();

		if (v == NULL)
			return 1;
		printf("%u.%u.%u\n", v->major, v->minor, v->micro);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (strcmp(a, "x86_64") == 0) {
		arch = SCMP_ARCH_X86_64;
		rc = scan(arch, 0, SCAN_MAX, 0);
	} else if (strcmp(a, "x32") == 0) {
		arch = SCMP_ARCH_X32;
		rc = scan(arch, (int)X32_SYSCALL_BIT, SCAN_MAX, 1);
	} else if (strcmp(a, "x86") == 0) {
		arch = SCMP_ARCH_X86;
		rc = scan(arch, 0, SCAN_MAX, 0);
	} else if (strcmp(a, "aarch64") == 0) {
		arch = SCMP_ARCH_AARCH64;
		rc = scan(arch, 0, SCAN_MAX, 0);
	} else if (strcmp(a, "arm") == 0) {
		arch = SCMP_ARCH_ARM;
		rc = scan(arch, 0, SCAN_MAX, 0);
		if (rc == 0)
			rc = scan(arch, ARM_NR_BASE, ARM_NR_SPAN, 0);
	} else {
		fprintf(stderr, "unknown arch: %s\n", a);
		return 2;
	}
	if (rc != 0 || fflush(stdout) != 0) {
		fprintf(stderr, "write error\n");
		return 1;
	}
	return 0;
}
