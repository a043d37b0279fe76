"""A real disk quota per episode: a size- and inode-limited ext4 volume on a loop device.

Walking the workspace cannot see files unlinked while held open, `O_TMPFILE` files or
folders nested deeper than PATH_MAX. So, when the host can (root, loop devices,
`mkfs.ext4`), every episode gets a sparse image file sized for `Resources.disk_mb` with
about `Resources.max_files` inodes, formatted ext4 and loop-mounted `nosuid,nodev`. Its
folders are bind-mounted over the episode's host workspace and over the control folder's
`run` and `home`, before the runner starts, so Docker's bind mounts and LocalSandbox's see
the volume and the kernel refuses writes past the limit (`ENOSPC`), whatever the walk sees.

At release (after every process of the sandbox is dead) the workspace's files are copied
out to the host workspace folder, bounded by the quota's size and inode count, never
following a symlink (links are copied as links), skipping special files and anything
nested past 64 levels or 3,072 bytes of path (`treecopy.py`); then every mount is undone,
the loop device detached and the image deleted: nothing an episode writes outlives it.

The image lives in a root-only (0700) folder beside the workspace (in the run folder, on
the disk the workspace would have used, not in a RAM-backed /tmp). The control folder
records it in `quota.json` (root-only), so `cleanup.reap_control_dirs` can release the
volume of a host killed with SIGKILL (`release_leftover`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import logging
import os
import secrets
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from mledojo.errors import SandboxError
from mledojo.sandbox import treecopy
from mledojo.sandbox.treecopy import CopyReport
from mledojo.spec import Resources

log = logging.getLogger(__name__)

QuotaPolicy = Literal["auto", "require", "off"]
POLICY_ENV = "MLEDOJO_DISK_QUOTA"
POLICIES: tuple[QuotaPolicy, ...] = ("auto", "require", "off")

RECORD_NAME = "quota.json"
FOLDER_PREFIX = ".mledojo-quota-"
IMAGE_NAME = "disk.img"
FS_NAME = "fs"
WORKSPACE_DIR = "workspace"
CONTROL_SUBDIRS = ("run", "home")  # agent-writable folders of the control folder
RESERVED_INODES = 16  # ext4's reserved inodes, the root, and our three folders
MIB = 1 << 20

MS_BIND = 4096
MS_REC = 16384
MNT_DETACH = 2
LOOP_CLR_FD = 0x4C01
MKFS_TIMEOUT_S = 120.0


class QuotaUnavailableError(SandboxError):
    """The host cannot make a file-system quota (not root, no loop devices, no mkfs)."""


class QuotaRecord(BaseModel):
    """What the control folder remembers of a quota, for `release_leftover`."""

    folder: str
    image: str
    fs: str


def policy_from_env() -> QuotaPolicy:
    """`MLEDOJO_DISK_QUOTA`: `auto` (default), `require` or `off`."""
    value = os.environ.get(POLICY_ENV, "auto").strip().lower() or "auto"
    for policy in POLICIES:
        if value == policy:
            return policy
    raise SandboxError(
        f"{POLICY_ENV}={value!r} is not a disk quota policy; use one of {', '.join(POLICIES)}"
    )


def image_size_bytes(resources: Resources) -> int:
    """The image's size: `disk_mb` for data plus ext4's own share (inode tables, bitmaps and
    the 2 % up to 16 MB it keeps back), plus a margin of 1.5 % + 1 MB.

    With the margin an honest episode can use all of `disk_mb`, and a full volume always
    holds more than `disk_mb`, so the runner's walk names it (`DiskLimitExceeded`) after
    the step that hit `ENOSPC`.
    """
    data = resources.disk_mb * MIB
    inode_tables = inode_count(resources) * 256
    kept_back = min(data // 50, 16 * MIB)
    margin = data // 64 + MIB
    extra = inode_tables + kept_back + data // 512 + MIB // 4 + margin
    return -(-(data + extra) // 4096) * 4096


def inode_count(resources: Resources) -> int:
    """`max_files` for the agent, plus what the file system and our folders use."""
    return resources.max_files + RESERVED_INODES


def unavailable_reason() -> str | None:
    """Why this host cannot make a quota, or None when it can."""
    if os.geteuid() != 0:
        return "not running as root (mounting a volume needs root)"
    if not Path("/dev/loop-control").exists():
        return "no loop devices (/dev/loop-control is missing; try `modprobe loop`)"
    for tool in ("mkfs.ext4", "mount"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (install e2fsprogs and util-linux)"
    return None


class DiskQuota:
    """One episode's volume: made by `create`, undone by `release`."""

    def __init__(self, record: QuotaRecord, workspace: Path, control_dir: Path) -> None:
        self.record = record
        self.workspace = workspace
        self.control_dir = control_dir
        self.capacity_bytes = 0
        self.inodes = 0
        self.released = False

    @property
    def fs(self) -> Path:
        return Path(self.record.fs)

    @classmethod
    def create(cls, *, workspace: Path, control_dir: Path, resources: Resources) -> DiskQuota:
        """Make, format and mount the volume and bind it over the workspace and `run`/`home`.

        Raises `QuotaUnavailableError` when the host cannot (see `unavailable_reason`), and
        `SandboxError` when the workspace already holds more than the quota.
        """
        reason = unavailable_reason()
        if reason is not None:
            raise QuotaUnavailableError(reason)
        folder = workspace.parent / f"{FOLDER_PREFIX}{secrets.token_hex(6)}"
        record = QuotaRecord(
            folder=str(folder), image=str(folder / IMAGE_NAME), fs=str(folder / FS_NAME)
        )
        _write_record(control_dir, record)  # first, so a killed host leaves a trace
        quota = cls(record, workspace, control_dir)
        try:
            quota._make(resources)
        except BaseException as exc:
            quota.release(copy_out=False)
            if isinstance(exc, OSError):  # e.g. the run folder is read-only or on NFS
                raise QuotaUnavailableError(
                    f"could not make the disk volume in {folder}: {exc}"
                ) from exc
            raise
        return quota

    def _make(self, resources: Resources) -> None:
        folder, image, fs = Path(self.record.folder), Path(self.record.image), self.fs
        folder.mkdir(mode=0o700)
        fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.ftruncate(fd, image_size_bytes(resources))  # sparse: no blocks yet
        finally:
            os.close(fd)
        _run_tool(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-b",
                "4096",
                "-N",
                str(inode_count(resources)),
                "-m",
                "0",
                "-O",
                "^has_journal,^resize_inode",
                "-E",
                "nodiscard,root_owner=0:0",
                str(image),
            ],
            "format the quota image",
        )
        fs.mkdir(mode=0o700)
        # `-o loop` sets up a loop device with autoclear: it goes with the last unmount.
        _run_tool(
            ["mount", "-t", "ext4", "-o", "loop,nosuid,nodev,noinit_itable", str(image), str(fs)],
            "mount the quota image",
        )
        vfs = os.statvfs(fs)
        self.capacity_bytes = vfs.f_blocks * vfs.f_frsize
        self.inodes = vfs.f_files
        for name in (WORKSPACE_DIR, *CONTROL_SUBDIRS):
            (fs / name).mkdir(mode=0o755)
        if any(os.scandir(self.workspace)):
            self._copy_in()
        _bind(fs / WORKSPACE_DIR, self.workspace)
        for name in CONTROL_SUBDIRS:
            target = self.control_dir / name
            target.mkdir(exist_ok=True)
            _bind(fs / name, target)

    def _copy_in(self) -> None:
        """What the workspace already holds goes onto the volume (it must fit)."""
        report = treecopy.copy_tree(
            self.workspace,
            self.fs / WORKSPACE_DIR,
            max_bytes=self.capacity_bytes,
            max_entries=self.inodes,
            strict=True,
        )
        if report.over_budget:
            raise SandboxError(
                f"the workspace {self.workspace} already holds more than the episode's disk "
                "quota (Resources.disk_mb / max_files): start with a smaller workspace or raise "
                "the limits"
            )

    def release(self, *, copy_out: bool = True) -> CopyReport:
        """Copy the workspace out (if asked), undo every mount, delete the image.

        Call only when no process of the sandbox is left. Idempotent.
        """
        report = CopyReport()
        if self.released:
            return report
        self.released = True
        device = _mounted_device(self.fs)
        if device is not None:
            _unmount_target(self.workspace, device)
            if str(self.workspace) in _mount_points(device):
                log.warning("quota: %s is still mounted; nothing copied out", self.workspace)
            elif copy_out:
                report = self._copy_out()
        release_volume(self.record, device)
        return report

    def _copy_out(self) -> CopyReport:
        """The volume's workspace into the host workspace folder, bounded (see module doc).

        Each file is moved (unlinked from the volume once copied), so the unmount writes
        none of its data back to the image.
        """
        source = self.fs / WORKSPACE_DIR
        if not source.is_dir():
            log.warning("quota: nothing to copy out of %s", self.fs)
            return CopyReport()
        treecopy.empty_folder(self.workspace)  # what was there at start was copied in
        report = treecopy.copy_tree(
            source,
            self.workspace,
            max_bytes=self.capacity_bytes or 1 << 62,
            max_entries=self.inodes or 1 << 62,
            strict=False,
            move=True,
        )
        if report.skipped:
            log.warning("quota: copied the workspace out: %s", report.summary())
        return report


def make_quota(
    *, workspace: Path, control_dir: Path, resources: Resources, policy: QuotaPolicy
) -> DiskQuota | None:
    """The episode's volume, or None (the runner's walk alone) where `policy` allows it."""
    if policy == "off":
        return None
    try:
        return DiskQuota.create(workspace=workspace, control_dir=control_dir, resources=resources)
    except QuotaUnavailableError as exc:
        if policy == "require":
            raise SandboxError(
                f"No file-system disk quota can be made here: {exc}. Run as root on a host "
                f"with loop devices, or set {POLICY_ENV}=auto to fall back to the weaker walk."
            ) from exc
        warnings.warn(
            f"No file-system disk quota for this episode ({exc}): only the runner's walk "
            "limits the disk, and files unlinked while open, O_TMPFILE files and folders "
            "nested past PATH_MAX escape it (result.json says sandbox.disk_quota='walk'). "
            f"Set {POLICY_ENV}=require to refuse instead.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None


# --------------------------------------------------------------------- leftovers


def release_leftover(control_dir: Path) -> bool:
    """Release the volume a dead owner's control folder records (no copy-out: the episode
    was cut short). Returns whether there was one. Needs root."""
    try:
        record = QuotaRecord.model_validate_json((control_dir / RECORD_NAME).read_bytes())
    except FileNotFoundError:
        return False
    except (OSError, ValidationError) as exc:
        log.warning("quota: unreadable record in %s: %s", control_dir, exc)
        return False
    folder = Path(record.folder)
    if not folder.name.startswith(FOLDER_PREFIX) or Path(record.fs).parent != folder:
        log.warning("quota: %s records an unexpected folder %s; left alone", control_dir, folder)
        return False
    # The record's paths may have moved (a test's tmp folder renamed before removal); the
    # control folder's own binds have not, and name the same device.
    points = [Path(record.fs), *(control_dir / name for name in CONTROL_SUBDIRS)]
    device = next((d for d in map(_mounted_device, points) if d is not None), None)
    moved = _backing_image(device) if device is not None else None
    if moved is not None and moved != Path(record.image):  # the kernel follows the rename
        folder = moved.parent
        record = QuotaRecord(folder=str(folder), image=str(moved), fs=str(folder / FS_NAME))
    release_volume(record, device)
    return True


def _backing_image(device: str) -> Path | None:
    """The quota image behind loop device `device` (major:minor), if it is one."""
    try:
        text = Path(f"/sys/dev/block/{device}/loop/backing_file").read_text().rstrip("\n")
    except OSError:
        return None
    path = Path(text.removesuffix(" (deleted)"))
    if path.name != IMAGE_NAME or not path.parent.name.startswith(FOLDER_PREFIX):
        return None
    return path


def still_mounted(folder: Path) -> list[str]:
    """Mount points at or under `folder` (a folder with any of them cannot be removed)."""
    prefix = str(folder).rstrip("/") + "/"
    return [point for _, point in _mountinfo() if point == str(folder) or point.startswith(prefix)]


def release_orphans() -> list[str]:
    """Release volumes nothing can find any more: a quota image that was deleted while
    mounted (its episode's folder removed under it). Returns the images' paths. Needs root."""
    released = []
    for loop, image in _loops():
        if not image.endswith(" (deleted)"):
            continue
        path = Path(image.removesuffix(" (deleted)"))
        if path.name != IMAGE_NAME or not path.parent.name.startswith(FOLDER_PREFIX):
            continue
        device = _loop_device(loop)
        for target in reversed(_mount_points(device) if device else []):
            _umount(target)
        _detach_loops(str(path))
        for empty in (path.parent / FS_NAME, path.parent):  # what the removal could not take
            with contextlib.suppress(OSError):
                empty.rmdir()
        released.append(str(path))
    return released


def release_volume(record: QuotaRecord, device: str | None) -> None:
    """Unmount every mount of the volume (binds first), detach its loop device, delete it."""
    if device is not None:
        for target in reversed(_mount_points(device)):  # the newest (the binds) first
            _umount(target)
    _detach_loops(record.image)
    folder = Path(record.folder)
    fs = Path(record.fs)
    if fs.exists() and os.path.ismount(fs):
        log.warning("quota: %s is still mounted; the image is kept until `mledojo cleanup`", fs)
        return
    Path(record.image).unlink(missing_ok=True)
    for path in (fs, folder):
        try:
            path.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("quota: could not remove %s: %s", path, exc)


# --------------------------------------------------------------------- mounts


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _bind(src: Path, dst: Path) -> None:
    """Bind `src` over `dst` (the flags nosuid,nodev come with the volume's mount)."""
    rc = _libc().mount(str(src).encode(), str(dst).encode(), None, ctypes.c_ulong(MS_BIND), None)
    if rc != 0:
        err = ctypes.get_errno()
        raise QuotaUnavailableError(f"bind-mounting {src} over {dst} failed: {os.strerror(err)}")


def _umount(target: str) -> None:
    if _libc().umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        log.warning("quota: could not unmount %s: %s", target, os.strerror(err))


def _unmount_target(target: Path, device: str) -> None:
    """Unmount `target` if (and only if) the volume is mounted there."""
    if str(target) in _mount_points(device):
        _umount(str(target))


def _unescape(field: str) -> str:
    """A /proc/self/mountinfo path field (octal escapes for space, tab, newline, \\)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit() and i + 4 <= len(field):
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mountinfo() -> list[tuple[str, str]]:
    """(major:minor, mount point) of every mount in this namespace, oldest first."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            parts = line.split(" ")
            if len(parts) > 4:
                found.append((parts[2], _unescape(parts[4])))
    return found


def _mounted_device(fs: Path) -> str | None:
    """The major:minor of the volume mounted at `fs`, if it is mounted."""
    for device, point in reversed(_mountinfo()):
        if point == str(fs):
            return device
    return None


def _mount_points(device: str) -> list[str]:
    return [point for dev, point in _mountinfo() if dev == device]


def _loops() -> list[tuple[Path, str]]:
    """(sysfs folder, backing file) of every attached loop device."""
    try:
        loops = [p for p in Path("/sys/block").iterdir() if p.name.startswith("loop")]
    except OSError:
        return []
    found = []
    for loop in loops:
        try:
            found.append((loop, (loop / "loop" / "backing_file").read_text().rstrip("\n")))
        except OSError:
            continue
    return found


def _loop_device(loop: Path) -> str | None:
    """The major:minor of a loop device's sysfs folder."""
    try:
        return (loop / "dev").read_text().strip()
    except OSError:
        return None


def _detach_loops(image: str) -> None:
    """Detach any loop device still backed by `image` (autoclear normally did it)."""
    for loop, backing in _loops():
        if backing.removesuffix(" (deleted)") != image:
            continue
        try:
            fd = os.open(f"/dev/{loop.name}", os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.ioctl(fd, LOOP_CLR_FD)
        except OSError:
            pass  # still in use (another namespace): autoclear detaches it when freed
        finally:
            os.close(fd)


def _run_tool(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=MKFS_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise QuotaUnavailableError(f"could not {what}: {exc}") from exc
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()[-500:]
        raise QuotaUnavailableError(
            f"could not {what} (`{argv[0]}` exited {done.returncode}: {detail}); check that "
            "loop devices are free (`losetup -a`) and the run folder's disk has room"
        )


def _write_record(control_dir: Path, record: QuotaRecord) -> None:
    path = control_dir / RECORD_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(record.model_dump_json())
