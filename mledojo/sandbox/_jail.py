"""The LocalSandbox launcher: build a minimal root, enter it, drop to the episode's uid,
then become the runner.

The host runs this file as root with its own Python (`python -I -S _jail.py <plan JSON>`),
as the runner's process: it does the isolation with real kernel calls and then `execv`s
the runner, so the host never runs Python code between `fork` and `exec` (a `preexec_fn`
is unsafe in a process with threads, and the MLE-Bot steps episodes from a thread pool).

`unsafe-local` (not root) uses the same launcher for what it can have:
`python -I -S _jail.py --userns <argv JSON>` enters a user+network namespace when the kernel
allows it (loopback only), and `execv`s the runner either way (the host warns when the
network stays reachable). And `LocalSandbox.stop` (root) ends an episode with
`_jail.py --kill-uid <uid>`: drop to the episode's uid, `kill(-1, SIGKILL)`.

In the child, in order: private mount, network and IPC namespaces; `/` made private; a tmpfs
as the new root holding only what the plan names (the system folders and Python prefixes
read-only, `nosuid`, `nodev`; the data read-only at `/data`; the workspace read-write at
`/workspace`; the control folder at `/run/mledojo`; the runner and tools at
`/opt/mledojo/`; a minimal `/etc` and `/dev`; a fresh `/proc`; size-limited `/tmp` and
`/dev/shm`); empty read-only tmpfs over every copy of the mledojo library the binds expose;
`pivot_root` into it and detach the old root; loopback up; `no_new_privs`; the episode's
uid and gid with no supplementary groups; `execv`.

A wrapped agent's driver (`mledojo.adapters.jail`) starts through the same launcher with a
plan of its own (`jailplan.driver_jail_plan`): it also names the folder to start in, a
process limit for the uid, and a port to listen on in the new network namespace, whose
listening socket goes to the host (the model gateway serves on it) before the uid is
dropped.

Standard library only, and no site packages (`-S`): it runs before anything is mounted.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import platform
import resource
import signal
import socket
import struct
import sys
from dataclasses import dataclass

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS = 38
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}


@dataclass(frozen=True)
class Bind:
    """A host path shown at `target` inside the new root (a file, folder or device node)."""

    source: str
    target: str
    writable: bool = False
    device: bool = False  # keeps device semantics (no `nodev`): /dev/null and friends


@dataclass(frozen=True)
class JailPlan:
    """Everything the launcher does, computed by the host (`LocalSandbox._jail_plan`)."""

    root_mount: str  # an empty host folder; the new root's tmpfs is mounted on it
    binds: tuple[Bind, ...]
    symlinks: tuple[tuple[str, str], ...]  # (path inside, link target)
    files: tuple[tuple[str, str], ...]  # (path inside, text): /etc/passwd and the like
    masks: tuple[str, ...]  # paths inside to cover with an empty read-only tmpfs
    tmp_mb: int
    tmp_inodes: int
    shm_mb: int
    uid: int
    gid: int
    argv: tuple[str, ...]  # what to execute at the end (the runner)
    cwd: str = "/"  # the folder inside to start `argv` in
    # A wrapped agent's driver: listen on 127.0.0.1:`listen_port` in the new network
    # namespace and send that socket to the host over the unix socket `handoff_fd` (0: none).
    listen_port: int = 0
    handoff_fd: int = 0
    nproc: int = 0  # RLIMIT_NPROC for the uid (threads included); 0: none

    def to_json(self) -> str:
        return json.dumps(
            {
                "root_mount": self.root_mount,
                "binds": [[b.source, b.target, b.writable, b.device] for b in self.binds],
                "symlinks": [list(s) for s in self.symlinks],
                "files": [list(f) for f in self.files],
                "masks": list(self.masks),
                "tmp_mb": self.tmp_mb,
                "tmp_inodes": self.tmp_inodes,
                "shm_mb": self.shm_mb,
                "uid": self.uid,
                "gid": self.gid,
                "argv": list(self.argv),
                "cwd": self.cwd,
                "listen_port": self.listen_port,
                "handoff_fd": self.handoff_fd,
                "nproc": self.nproc,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> JailPlan:
        """Parse the plan; a malformed one is a `ValueError` naming the field."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("the jail plan is not a JSON object")
        binds = []
        for item in _rows(raw, "binds", 4):
            binds.append(Bind(_path(item[0]), _path(item[1]), item[2] is True, item[3] is True))
        return cls(
            root_mount=_path(raw.get("root_mount")),
            binds=tuple(binds),
            symlinks=tuple((_path(r[0]), _text(r[1])) for r in _rows(raw, "symlinks", 2)),
            files=tuple((_path(r[0]), _text(r[1])) for r in _rows(raw, "files", 2)),
            masks=tuple(_path(m) for m in _items(raw, "masks")),
            tmp_mb=_number(raw, "tmp_mb"),
            tmp_inodes=_number(raw, "tmp_inodes"),
            shm_mb=_number(raw, "shm_mb"),
            uid=_number(raw, "uid"),
            gid=_number(raw, "gid"),
            argv=tuple(_text(a) for a in _items(raw, "argv")),
            cwd=_path(raw.get("cwd", "/")),
            listen_port=_number(raw, "listen_port", default=0),
            handoff_fd=_number(raw, "handoff_fd", default=0),
            nproc=_number(raw, "nproc", default=0),
        )


def _items(raw: dict[str, object], name: str) -> list[object]:
    value = raw.get(name)
    if not isinstance(value, list):
        raise ValueError(f"jail plan field `{name}` is missing or not a list")
    return value


def _rows(raw: dict[str, object], name: str, width: int) -> list[list[object]]:
    rows = _items(raw, name)
    for row in rows:
        if not isinstance(row, list) or len(row) != width:
            raise ValueError(f"jail plan field `{name}` holds {str(row)[:200]}")
    return rows  # type: ignore[return-value]  # each row was checked above


def _text(value: object) -> str:
    if not isinstance(value, str) or "\0" in value:
        raise ValueError(f"jail plan: {str(value)[:200]} is not a string")
    return value


def _path(value: object) -> str:
    text = _text(value)
    if not text.startswith("/"):
        raise ValueError(f"jail plan: {text[:200]} is not an absolute path")
    return text


def _number(raw: dict[str, object], name: str, default: int | None = None) -> int:
    value = raw.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"jail plan field `{name}` is missing or not a count")
    return value


# --------------------------------------------------------------------------- kernel calls


LIBC = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str = "") -> None:
    rc = LIBC.mount(
        src.encode() if src else None,
        dst.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(rc, f"mount {src} -> {dst}")


def _inside(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _bind(root: str, bind: Bind) -> None:
    """Bind `bind.source` (not its submounts) at its target, then set the mount's flags."""
    target = _inside(root, bind.target)
    if os.path.isdir(bind.source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
    _mount(bind.source, target, None, MS_BIND)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID
    flags |= 0 if bind.device else MS_NODEV
    flags |= 0 if bind.writable else MS_RDONLY
    _mount(None, target, None, flags)


def _tmpfs(target: str, flags: int, options: str) -> None:
    os.makedirs(target, exist_ok=True)
    _mount("tmpfs", target, "tmpfs", flags, options)


def _pivot_into(root: str) -> None:
    """Make `root` the process's `/` and detach the old root entirely."""
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: unsupported machine {platform.machine()}")
    os.chdir(root)
    # pivot_root(".", "."): the old root is stacked on the new one, then detached.
    _check(LIBC.syscall(number, b".", b"."), "pivot_root")
    _check(LIBC.umount2(b".", MNT_DETACH), "umount the old root")
    os.chdir("/")


def loopback_up() -> None:
    """Bring `lo` up in the new network namespace (it starts down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"\0" * 14)
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b"\0" * 14))


def enter(plan: JailPlan) -> None:
    """Build and enter the new root, then become the episode's uid (needs root)."""
    _check(LIBC.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = plan.root_mount
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m,nr_inodes=4096")
    # The file systems of their own first: a bind beneath one (a Python under /tmp) then
    # lands on it instead of being covered by it.
    proc = _inside(root, "/proc")
    os.makedirs(proc, exist_ok=True)
    _mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    safe = MS_NOSUID | MS_NODEV
    _tmpfs(
        _inside(root, "/tmp"), safe, f"size={plan.tmp_mb}m,nr_inodes={plan.tmp_inodes},mode=1777"
    )
    _tmpfs(_inside(root, "/dev/shm"), safe | MS_NOEXEC, f"size={plan.shm_mb}m,mode=1777")
    for path, text in plan.files:
        target = _inside(root, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(target, 0o644)
    for path, link in plan.symlinks:
        target = _inside(root, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(link, target)
    for bind in plan.binds:
        _bind(root, bind)
    for path in plan.masks:
        target = _inside(root, path)
        if os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")
    _mount(None, root, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _pivot_into(root)
    loopback_up()
    if plan.listen_port:
        hand_off_listener(plan.listen_port, plan.handoff_fd)
    if plan.nproc:  # counted per real uid: the episode uid's processes only
        resource.setrlimit(resource.RLIMIT_NPROC, (plan.nproc, plan.nproc))
    _check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    os.setgroups([])
    os.setgid(plan.gid)
    os.setuid(plan.uid)
    os.chdir(plan.cwd)


def hand_off_listener(port: int, fd: int) -> None:
    """Listen on 127.0.0.1:`port` in the new network namespace and send the listening socket
    to the host over the unix socket `fd`: the host's model gateway accepts the driver's
    connections on it, and nothing else of the host's network is reachable from here."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener,
        socket.socket(fileno=fd) as channel,
    ):
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        socket.send_fds(channel, [b"listening"], [listener.fileno()])


USERNS_FLAG = "--userns"
KILL_UID_FLAG = "--kill-uid"


def enter_user_namespace() -> bool:
    """Not root (`unsafe-local`): a user+network namespace with loopback up, if allowed."""
    if LIBC.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return False
    try:
        loopback_up()
    except OSError:
        pass  # no usable loopback: still no route out of the empty namespace
    return True


def kill_all_as(uid: int) -> None:
    """As root: become `uid` (no groups) and send SIGKILL to every process of it at once."""
    if uid <= 0:
        raise ValueError(f"refusing to kill(-1) as uid {uid}")
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    os.kill(-1, signal.SIGKILL)  # every process of this uid but the caller itself


def _command(text: str) -> list[str]:
    """The `--userns` mode's command: a non-empty JSON list of strings."""
    raw = json.loads(text)
    if not isinstance(raw, list) or not raw:
        raise ValueError("the launcher's command is not a non-empty JSON list")
    return [_text(a) for a in raw]


def main(argv: list[str]) -> int:
    """`_jail.py <plan JSON>`: enter the jail and execute the plan's command.
    `_jail.py --userns <argv JSON>`: enter a user+network namespace if allowed, then exec.
    `_jail.py --kill-uid <uid>`: kill every process of `uid` (root)."""
    usage = "usage: _jail.py <plan JSON> | --userns <argv JSON> | --kill-uid <uid>"
    flags = (USERNS_FLAG, KILL_UID_FLAG)
    if len(argv) not in (1, 2) or (len(argv) == 2) != (argv[0] in flags):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == KILL_UID_FLAG:
            kill_all_as(int(argv[1]))
            return 0
        if argv[0] == USERNS_FLAG:
            command = _command(argv[1])
            enter_user_namespace()
        else:
            plan = JailPlan.from_json(argv[0])
            enter(plan)
            command = list(plan.argv)
        os.execv(command[0], command)
    except (OSError, ValueError) as exc:
        print(f"mledojo jail: {exc}", file=sys.stderr)
        return 1
    return 1  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
