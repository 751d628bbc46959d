"""The child side of bakeoff.decide.sandbox: contain, load the model's code in a limited worker, call it.

Run as `python -I -S _sandbox_runner.py` with the job as JSON on stdin. Standard library only.
This process (when root, first as nobody) enters new user, PID, network, mount, IPC and UTS
namespaces and forks the supervisor, PID 1 of the new PID namespace. The supervisor builds a new
root of the system's directories and Python's, read-only (no home, no project, no other mount),
with its own /proc (which shows only the sandbox's processes) and empty, size-limited tmpfs on
/tmp, /dev/shm and /run, chroots into it, then forks the worker, which closes every file
but a result pipe, lowers its resource limits, drops every capability, installs a seccomp filter
(where libseccomp is installed) and only then runs the code. The supervisor enforces the wall-clock limit,
kills whatever the code left running and
writes the one result line to stdout, which the worker has no handle to: what the code prints,
even to file descriptor 1, goes to stderr. When PID 1 exits, the kernel kills every process left
in its namespace, and tmpfs and namespaces vanish with the last of them.

Where the kernel refuses namespaces, the old containment runs (rlimits, seccomp, nobody when
root, a subreaper that kills what the code left) and the result line names each protection
missing.
"""

import ctypes
import json
import os
import resource
import select
import signal
import sys
import time
import types

# Imported before dropping to nobody: the interpreter may live where nobody cannot read (here,
# under /root), so code a model wrote can use these and other standard modules fail to import.
PRELOADED = (  # noqa: SIM905 - a list of words reads best as words
    "abc array bisect cmath collections collections.abc copy dataclasses datetime decimal enum "
    "fractions functools hashlib heapq itertools math numbers operator random re statistics "
    "string struct textwrap time typing unicodedata"
).split()

# What the result line lists under "missing" when the machine refused it.
NAMESPACES = "user, PID, network, mount and IPC namespaces"
PRIVATE_PROC = "a /proc that shows only the sandbox"
HIDDEN_FILES = "a root with only the system's directories (the user's files hidden)"
READ_ONLY = "a read-only filesystem"
PRIVATE_TMP = "private /tmp, /dev/shm and /run"
NO_NESTED_NAMESPACES = "a ban on nested user namespaces"
UNPRIVILEGED_USER = "dropping root to nobody (not mapped here)"
SECCOMP = "a seccomp filter (libseccomp.so.2 is not installed)"

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 0x4000, 1 << 18
MNT_DETACH = 2
AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = -100, 0x8000, 1
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (added after the tables were unified)
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 4, 24, 38, 36
CAPABILITY_VERSION_3 = 0x20080522
CLONE_NEWCGROUP, AF_UNIX = 0x02000000, 1
SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_CMP_NE, SCMP_CMP_MASKED_EQ = 0x7FFF0000, 0x00050000, 1, 7
DENIED_CALLS = (  # noqa: SIM905 - a list of words reads best as words
    "ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd keyctl add_key request_key bpf "
    "perf_event_open userfaultfd mount umount2 mount_setattr move_mount open_tree fsopen fsmount fspick "
    "pivot_root chroot unshare setns open_by_handle_at name_to_handle_at init_module finit_module "
    "delete_module kexec_load kexec_file_load swapon swapoff reboot acct iopl ioperm quotactl"
).split()
RESULT_LIMIT = 16 * 1024**2  # bytes read from the worker; more is not a result
SCRATCH_DIRS = ("/tmp", "/dev/shm", "/run")
# What the code's root holds (read-only), besides Python's own directories and SCRATCH_DIRS.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/dev")

libc = ctypes.CDLL(None, use_errno=True)


def call(name: str, *args) -> None:
    """A libc call that raises OSError on failure."""
    if getattr(libc, name)(*args) == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{name}: {os.strerror(errno)}")


def drop_to_nobody() -> None:
    for name in PRELOADED:
        __import__(name)
    # As nobody, neither the code nor anything it reaches reads root's files or processes.
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    call("prctl", PR_SET_DUMPABLE, 1, 0, 0, 0)  # else /proc/self stays root's and we cannot map our user


def enter_namespaces() -> None:
    """Become root of a new user namespace that owns new PID, network, mount, IPC and UTS ones."""
    uid, gid = os.geteuid(), os.getegid()
    call("unshare", CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)
    for name, text in [("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")]:
        write(f"/proc/self/{name}", text)


def write(path: str, text: str) -> None:
    """Write a /proc file as it is (open(path, "w") would also ask to create and truncate it)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


class MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def python_dirs() -> list[str]:
    """The standard library's directories outside the system's, where we can reach them (not as
    nobody when Python lives under /root: then the code has the PRELOADED modules only)."""
    found: list[str] = []
    for path in sys.path:
        if os.path.isdir(path) and not any(path == d or path.startswith(d + "/") for d in [*SYSTEM_DIRS, *found]):
            found.append(path)
    return found


def mount(source: str | None, target: str, kind: str | None, flags: int, options: str | None = None) -> None:
    call(
        "mount",
        source and source.encode(),
        target.encode(),
        kind and kind.encode(),
        flags,
        options and options.encode(),
    )


def read_only(path: str, recursive: bool) -> bool:
    attr = MountAttr(attr_set=MOUNT_ATTR_RDONLY)
    syscall = libc.syscall
    syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_size_t]
    flags = AT_RECURSIVE if recursive else 0
    return syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), flags, ctypes.byref(attr), ctypes.sizeof(attr)) == 0


def build_root(root: str) -> bool:
    """A new root on a tmpfs at `root`: the system's directories and Python's, bound read-only;
    the user's files (home, project, other mounts) are not in it. False: a mount was refused."""
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    all_read_only = True
    for path in [*SYSTEM_DIRS, *python_dirs()]:
        inside = root + path
        if os.path.islink(path):  # /bin -> usr/bin on a merged /usr
            os.symlink(os.readlink(path), inside)
        elif os.path.isdir(path):
            os.makedirs(inside, exist_ok=True)
            mount(path, inside, None, MS_BIND | MS_REC)
            all_read_only &= read_only(inside, recursive=True)
    for path in SCRATCH_DIRS:
        os.makedirs(root + path, exist_ok=True)
    os.makedirs(root + "/proc")
    return all_read_only


def set_up_filesystem(scratch_bytes: int) -> list[str]:
    """In the supervisor (PID 1): a root of the system's directories, read-only, our /proc and
    empty scratch space; or, where that is refused, all of / read-only. The mounts are locked
    for the worker, which has no capability to undo them."""
    missing = []
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount reaches the host
    root = "/tmp"  # the new root is built on a tmpfs mounted here, then becomes /
    try:
        if not build_root(root):
            missing.append(READ_ONLY)
    except OSError:
        missing.append(HIDDEN_FILES)
        call("umount2", root.encode(), MNT_DETACH)
        root = ""
        if not read_only("/", recursive=True):
            missing.append(READ_ONLY)
    try:
        mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        missing.append(PRIVATE_PROC)
    try:
        for path in SCRATCH_DIRS:
            if os.path.isdir(root + path):
                mount(
                    "tmpfs",
                    root + path,
                    "tmpfs",
                    MS_NOSUID | MS_NODEV,
                    f"size={scratch_bytes},nr_inodes=4096,mode=1777",
                )
    except OSError:
        missing.append(PRIVATE_TMP)
    if root:
        os.chdir(root)
        os.chroot(".")  # the worker, without CAP_SYS_CHROOT, cannot leave it
        os.chdir("/")
        if not read_only("/", recursive=False):  # the skeleton too, now that its mount points are made
            missing.append(READ_ONLY)
    try:  # per user namespace: the worker cannot make one of its own to regain capabilities in
        write("/proc/sys/user/max_user_namespaces", "0")
    except OSError:
        missing.append(NO_NESTED_NAMESPACES)
    return missing


class ArgCompare(ctypes.Structure):  # libseccomp's struct scmp_arg_cmp
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def load_seccomp():
    """libseccomp, loaded while the whole filesystem is in reach; None where it is not installed."""
    try:
        seccomp = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        return None
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    seccomp.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(ArgCompare),
    ]
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
    return seccomp


def filter_system_calls(seccomp) -> None:
    """Refuse the calls that reach into other processes, the kernel's keyrings, mounts and
    namespaces, and every socket but a Unix one: defence in depth should a namespace leak."""
    context = seccomp.seccomp_init(SCMP_ACT_ALLOW)
    if not context:
        raise OSError("seccomp_init failed")

    def refuse(name: str, errno: int = 1, *compares: ArgCompare) -> None:
        number = seccomp.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            return  # not a call on this architecture
        array = (ArgCompare * len(compares))(*compares) if compares else None
        if seccomp.seccomp_rule_add_array(context, SCMP_ACT_ERRNO | errno, number, len(compares), array) < 0:
            raise OSError(f"seccomp: cannot filter {name}")

    for name in DENIED_CALLS:
        refuse(name)
    refuse("clone3", 38)  # ENOSYS: its flags are out of a filter's reach; the C library falls back to clone
    for flag in (CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP):
        refuse("clone", 1, ArgCompare(0, SCMP_CMP_MASKED_EQ, flag, flag))
    refuse("socket", 97, ArgCompare(0, SCMP_CMP_NE, AF_UNIX, 0))  # EAFNOSUPPORT
    if seccomp.seccomp_load(ctypes.c_void_p(context)) < 0:
        raise OSError("seccomp_load failed")


def drop_capabilities() -> None:
    """No capability now or after any exec: the worker cannot unmount, remount or mount."""
    with open("/proc/sys/kernel/cap_last_cap") as file:
        last = int(file.read())
    for capability in range(last + 1):
        call("prctl", PR_CAPBSET_DROP, capability, 0, 0, 0)
    call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(CAPABILITY_VERSION_3, 0)
    call("capset", header, (ctypes.c_uint32 * 6)())


def limit(limits: dict) -> None:
    cpu = limits["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU at the soft limit, SIGKILL after
    for name, key in [("RLIMIT_AS", "memory_bytes"), ("RLIMIT_FSIZE", "file_bytes"), ("RLIMIT_NOFILE", "open_files")]:
        resource.setrlimit(getattr(resource, name), (limits[key], limits[key]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))


def jsonable(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, (tuple, set, frozenset)):
            return [jsonable(v) for v in (sorted(value) if isinstance(value, (set, frozenset)) else value)]
        return repr(value)


def pick_function(module: types.ModuleType, name):
    if name:
        fn = getattr(module, name, None)
        if not callable(fn):
            raise LookupError(f"the code defines no function {name!r}")
        return fn
    defined = [
        v for v in vars(module).values() if isinstance(v, types.FunctionType) and v.__module__ == module.__name__
    ]
    if not defined:
        raise LookupError("the code defines no function")
    return defined[0]


def run_job(job: dict, result_fd: int, isolated: bool, missing: list[str], seccomp) -> None:
    """In the worker: shed every handle but the result pipe, limit, load, call; never returns."""
    os.dup2(2, 1)  # fd 1 is the supervisor's result stream: what the code prints goes to stderr
    sys.stdout = sys.stderr  # line-buffered, so prints are not lost at os._exit
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.closerange(3, result_fd)
    os.closerange(result_fd + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    sys.stdin = open(os.devnull)  # noqa: SIM115 - stdin for the rest of the worker's life
    limit(job["limits"])
    if isolated:
        if PRIVATE_TMP not in missing:
            os.chdir("/tmp")
        drop_capabilities()
    if seccomp is not None:
        filter_system_calls(seccomp)
    module = types.ModuleType("answer")  # not __main__, so `if __name__ == "__main__":` demos stay quiet
    try:
        exec(compile(job["code"], "<answer>", "exec"), module.__dict__)
        function = pick_function(module, job["function"])
    except BaseException as exc:  # noqa: BLE001 - any failure of untrusted code is a result
        result: dict[str, object] = {"error": f"the code does not load: {type(exc).__name__}: {exc}"}
    else:
        calls = []
        for call_ in job["calls"]:
            try:
                value = function(*call_.get("args", []), **call_.get("kwargs", {}))
                calls.append({"ok": True, "value": jsonable(value)})
            except BaseException as exc:  # noqa: BLE001
                calls.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        result = {"function": function.__name__, "calls": calls}
    with os.fdopen(result_fd, "w") as stream:
        stream.write(json.dumps(result))
    os._exit(0)  # skip atexit hooks and finalizers the model's code may have registered


def collect(worker: int, result_fd: int, timeout_s: float):
    """The worker's wait status (None: still running after `timeout_s`) and what it sent."""
    deadline = time.monotonic() + timeout_s
    data = bytearray()
    watched = [result_fd]
    with os.fdopen(os.pidfd_open(worker)) as pidfd:
        while (left := deadline - time.monotonic()) > 0:
            ready = select.select([pidfd.fileno(), *watched], [], [], left)[0]
            if result_fd in ready:
                chunk = os.read(result_fd, 65536)
                if not chunk:
                    watched = []  # closed; the worker may still run
                elif len(data) < RESULT_LIMIT:
                    data += chunk
            if pidfd.fileno() in ready:
                status = os.waitpid(worker, 0)[1]
                os.set_blocking(result_fd, False)  # what is left; the code's children may hold the pipe open
                try:
                    while len(data) < RESULT_LIMIT and (chunk := os.read(result_fd, 65536)):
                        data += chunk
                except BlockingIOError:
                    pass
                return status, bytes(data)
    return None, bytes(data)


def children() -> list[int]:
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:
                found.append(int(entry))
    return found


def kill_leftovers(isolated: bool) -> None:
    """Kill and reap everything the code left; orphans of the code keep arriving here."""
    if isolated:  # PID 1: kill(-1) reaches every other process of the namespace, and only those
        while True:
            try:
                os.kill(-1, signal.SIGKILL)
                os.waitpid(-1, 0)
            except (ProcessLookupError, ChildProcessError):
                return
    while pids := children():
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                continue


def describe(status: int) -> str | None:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        reason = f"killed by {signal.Signals(number).name}"
        return reason + (" (CPU time limit)" if number == signal.SIGXCPU else "")
    if os.WEXITSTATUS(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return None


def supervise(job: dict, isolated: bool, missing: list[str], seccomp) -> None:
    """Run the worker, wait for it, clean up, and write the result line; never returns."""
    if not isolated:
        # Not contextlib.suppress: a module imported here is one the code under test can import too.
        try:  # noqa: SIM105
            call("prctl", PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of the code come to us to be killed
        except (OSError, AttributeError):
            pass
    result_read, result_write = os.pipe()
    worker = os.fork()
    if worker == 0:
        os.close(result_read)
        run_job(job, result_write, isolated, missing, seccomp)
    os.close(result_write)
    status, data = collect(worker, result_read, job["limits"]["wall_s"])
    if status is None:
        os.kill(worker, signal.SIGKILL)
        os.waitpid(worker, 0)
    kill_leftovers(isolated)
    if status is None:
        result: dict[str, object] = {"error": f"timed out after {job['limits']['wall_s']:g} s wall-clock"}
    elif failure := describe(status):
        result = {"error": failure}
    else:
        try:
            result = json.loads(data)
        except ValueError:
            result = {"error": "the worker sent no readable result"}
    result["missing"] = missing
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)


def main() -> None:
    job = json.loads(sys.stdin.read())
    seccomp = load_seccomp()
    missing = [] if seccomp else [SECCOMP]
    if os.geteuid() == 0:
        try:
            drop_to_nobody()
        except OSError:  # root of a user namespace without nobody in it (a rootless container)
            missing.append(UNPRIVILEGED_USER)
    try:
        enter_namespaces()
    except OSError:
        supervise(job, False, [*missing, NAMESPACES, PRIVATE_PROC, HIDDEN_FILES, READ_ONLY, PRIVATE_TMP], seccomp)
    sys.stdout.flush()
    supervisor = os.fork()  # PID 1 of the new PID namespace
    if supervisor == 0:
        call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # killed with us, and the namespace with it
        supervise(job, True, [*missing, *set_up_filesystem(job["limits"]["scratch_bytes"])], seccomp)
    status = os.waitpid(supervisor, 0)[1]
    if failure := describe(status):  # it wrote no result; say why in its place
        sys.stdout.write("\n" + json.dumps({"error": f"the sandbox's supervisor {failure}", "missing": []}) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
