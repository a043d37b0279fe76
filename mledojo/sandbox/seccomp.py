"""The seccomp profile of Docker sandboxes: an allow-list that leaves out io_uring.

Docker's built-in default profile (engines before 25.0) allows `io_uring_setup`,
`io_uring_enter` and `io_uring_register`: a large, fast-moving kernel interface with a
history of privilege escalations, which no agent needs. This profile is passed to every
container instead (`security_opt=["seccomp=<this JSON>"]`; the Docker API takes the
profile's content, not a path). It is written here, not copied: an allow-list of the kernel's
system calls (the x86_64 and generic UAPI tables, plus calls added since) without

* io_uring, and what Docker's default also refuses to an unprivileged container: kernel
  modules, kexec, mounts and new mount API, namespaces (`unshare`, `setns`, `clone` with a
  `CLONE_NEW*` flag; `clone3` answers ENOSYS so the C library falls back to `clone`), keys,
  `bpf`, `perf_event_open`, `userfaultfd`, `kcmp`, NUMA policy calls, clock setting,
  `swapon`, `reboot`, `acct`, `quotactl`, `syslog`, `personality` but for its harmless
  values, and obsolete calls;
* anything newer than the table: unknown calls answer ENOSYS, so libraries fall back.

Every capability is dropped as well; the profile removes kernel surface, not privileges.
"""

from __future__ import annotations

import json
import platform
from typing import Any

ENOSYS = 38
EPERM = 1

CLONE_NAMESPACE_FLAGS = 0x7E020000
"""CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET."""

PERSONALITY_VALUES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
"""PER_LINUX, UNAME26 and ADDR_NO_RANDOMIZE combinations, and the query value."""

IO_URING_CALLS = ("io_uring_setup", "io_uring_enter", "io_uring_register")

ALLOWED_CALLS: tuple[str, ...] = tuple(
    """
accept accept4 access adjtimex afs_syscall alarm arch_prctl bind brk cachestat capget capset
chdir chmod chown clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup
dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2
epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat
faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2
fchown fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr
fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat get_robust_list
get_thread_area getcpu getcwd getdents getdents64 getegid geteuid getgid getgroups getitimer
getpeername getpgid getpgrp getpid getpmsg getppid getpriority getrandom getresgid getresuid
getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday getuid getxattr
getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit ioctl
ioprio_get ioprio_set kill landlock_add_rule landlock_create_ruleset landlock_restrict_self
lchown lgetxattr link linkat listen listmount listxattr listxattrat llistxattr llseek
lremovexattr lseek lsetxattr lsm_get_self_attr lsm_list_modules lsm_set_self_attr lstat
lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret migrate_pages mincore
mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 modify_ldt mprotect
mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock
munlockall munmap nanosleep newfstatat open openat openat2 pause pidfd_getfd pidfd_open
pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64
prctl pread64 preadv preadv2 prlimit64 process_madvise process_mrelease process_vm_readv
process_vm_writev pselect6 pselect6_time64 ptrace putpmsg pwrite64 pwritev pwritev2 read
readahead readlink readlinkat readv recvfrom recvmmsg recvmmsg_time64 recvmsg
remap_file_pages removexattr removexattrat rename renameat renameat2 restart_syscall rmdir
rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max
sched_get_priority_min sched_getaffinity sched_getattr sched_getparam sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
sched_setparam sched_setscheduler sched_yield seccomp security select semctl semget semop
semtimedop semtimedop_time64 sendfile sendfile64 sendmmsg sendmsg sendto set_robust_list
set_thread_area set_tid_address setfsgid setfsuid setgid setgroups setitimer setpgid
setpriority setregid setresgid setresuid setreuid setrlimit setsid setsockopt setuid
setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 socket
socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat sync
sync_file_range sync_file_range2 syncfs sysinfo tee tgkill time timer_create timer_delete
timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create
timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate
truncate64 tuxcall umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork
vmsplice vserver wait4 waitid write writev
""".split()
)
"""System calls allowed unconditionally (none of `IO_URING_CALLS`, `clone`, `clone3`,
`personality`, nor the refused calls named in the module docstring)."""

_ARCHITECTURES = {
    "x86_64": ["SCMP_ARCH_X86_64"],
    "amd64": ["SCMP_ARCH_X86_64"],
    "aarch64": ["SCMP_ARCH_AARCH64"],
    "arm64": ["SCMP_ARCH_AARCH64"],
}


def profile() -> dict[str, Any]:
    """The profile, as Docker reads it (only the machine's own 64-bit ABI is allowed)."""
    rules: list[dict[str, Any]] = [
        {"names": list(ALLOWED_CALLS), "action": "SCMP_ACT_ALLOW"},
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [
                {
                    "index": 0,
                    "value": CLONE_NAMESPACE_FLAGS,
                    "valueTwo": 0,
                    "op": "SCMP_CMP_MASKED_EQ",
                }
            ],
        },
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
        {"names": list(IO_URING_CALLS), "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM},
    ]
    rules += [
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": value, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
        }
        for value in PERSONALITY_VALUES
    ]
    found: dict[str, Any] = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": ENOSYS,
        "syscalls": rules,
    }
    arches = _ARCHITECTURES.get(platform.machine().lower())
    if arches:
        found["architectures"] = arches
    return found


def security_option() -> str:
    """`seccomp=<profile JSON>`, for `security_opt`."""
    return "seccomp=" + json.dumps(profile(), separators=(",", ":"))
