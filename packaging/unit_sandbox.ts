/**
 * Runs a command the way a systemd service unit would, as far as that can be done without
 * systemd as PID 1 (CI containers): the unit's user and group, a clean environment, the
 * runtime/state directories, and its sandbox approximated with a private mount namespace
 * (`unshare`), `setpriv` and a seccomp filter (libseccomp through Debian's python3):
 *
 * | unit setting                          | emulation                                         |
 * |---------------------------------------|---------------------------------------------------|
 * | User=, Group=                         | setpriv --reuid/--regid --init-groups             |
 * | NoNewPrivileges=, CapabilityBoundingSet= | setpriv --no-new-privs, --bounding-set=-all     |
 * | ProtectSystem=strict (only that level) | every mount read-only except /proc, /sys, /dev   |
 * | StateDirectory=                       | created (owner, mode), bind-mounted writable      |
 * | RuntimeDirectory=                     | a fresh private tmpfs (owner, mode) for the run   |
 * | PrivateTmp=                           | fresh tmpfs on /tmp and /var/tmp                  |
 * | ProtectHome=yes                       | empty, inaccessible tmpfs on /home, /root, /run/user |
 * | ProtectKernelTunables=                | /proc/sys and /sys read-only                      |
 * | SystemCallFilter=, SystemCallErrorNumber= | seccomp allow list from `systemd-analyze syscall-filter` |
 * | LimitNOFILE=, UMask=, WorkingDirectory= | ulimit -n, umask, cd                            |
 * | LimitRTPRIO=                          | prlimit --rtprio (needs CAP_SYS_RESOURCE)         |
 *
 * Not emulated (need systemd or namespaces a test should not fake): PrivateDevices,
 * ProtectProc, RestrictAddressFamilies, RestrictNamespaces, ProtectClock/Hostname/KernelLogs/
 * KernelModules, RestrictRealtime, LockPersonality, MemoryDenyWriteExecute. Needs root,
 * util-linux (unshare, setpriv) and, for `privateNetwork`, iproute2. Test tooling only: the
 * product never spawns processes.
 *
 * @module
 */

import { runCommand } from "./command.ts";

/** The parts of a unit's [Service] section that shape how its commands run. */
export interface ServiceUnit {
  user: string;
  group: string;
  /** `ExecStartPre=` command lines, in order (prefix characters like `-` removed). */
  execStartPre: string[][];
  /** The `ExecStart=` command line. */
  execStart: string[];
  /** `RuntimeDirectory=` names (under /run) and their mode. */
  runtimeDirectories: string[];
  runtimeDirectoryMode: number;
  /** `StateDirectory=` names (under /var/lib) and their mode. */
  stateDirectories: string[];
  stateDirectoryMode: number;
  workingDirectory?: string;
  umask?: number;
  limitNofile?: number;
  limitRtprio?: number;
  protectSystem?: string;
  protectHome?: string;
  privateTmp: boolean;
  noNewPrivileges: boolean;
  protectKernelTunables: boolean;
  /** Capabilities left in the bounding set (empty: none). */
  capabilityBoundingSet: string[];
  /** `SystemCallFilter=` lines, in order. */
  systemCallFilter: string[];
  /** errno for filtered system calls (`SystemCallErrorNumber=`), default: kill. */
  systemCallErrorNumber?: string;
  /** Every key=value seen in [Service], for checks beyond this list. */
  raw: Map<string, string[]>;
}

/** The unit text cannot be used. */
export class ServiceUnitError extends Error {
  override name = "ServiceUnitError";
  constructor(message: string, readonly value: string) {
    super(`${message}: ${value}`);
  }
}

/** Parses the [Service] section of a unit file. */
export function parseServiceUnit(text: string): ServiceUnit {
  const raw = new Map<string, string[]>();
  let section = "";
  const lines = text.replace(/\\\n/g, " ").split("\n");
  for (const line of lines) {
    const t = line.trim();
    if (t === "" || t.startsWith("#") || t.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(t);
    if (header) {
      section = header[1];
      continue;
    }
    if (section !== "Service") continue;
    const eq = t.indexOf("=");
    if (eq < 0) throw new ServiceUnitError("not a key=value line", t);
    const key = t.slice(0, eq).trim();
    const value = t.slice(eq + 1).trim();
    if (value === "") raw.set(key, []); // an empty assignment resets the list
    else raw.set(key, [...(raw.get(key) ?? []), value]);
  }
  const one = (key: string) => raw.get(key)?.at(-1);
  const words = (key: string) => (raw.get(key) ?? []).flatMap((v) => v.split(/\s+/));
  const bool = (key: string) => /^(yes|true|on|1)$/i.test(one(key) ?? "");
  const octal = (key: string, dflt: number) => {
    const v = one(key);
    if (v === undefined) return dflt;
    if (!/^[0-7]{3,4}$/.test(v)) throw new ServiceUnitError(`${key} is not an octal mode`, v);
    return parseInt(v, 8);
  };
  const user = one("User");
  const execStart = one("ExecStart");
  if (!user) throw new ServiceUnitError("no User=", text.slice(0, 80));
  if (!execStart) throw new ServiceUnitError("no ExecStart=", text.slice(0, 80));
  const nofile = one("LimitNOFILE");
  const rtprio = one("LimitRTPRIO");
  return {
    user,
    group: one("Group") ?? user,
    execStartPre: (raw.get("ExecStartPre") ?? []).map(commandLine),
    execStart: commandLine(execStart),
    runtimeDirectories: words("RuntimeDirectory"),
    runtimeDirectoryMode: octal("RuntimeDirectoryMode", 0o755),
    stateDirectories: words("StateDirectory"),
    stateDirectoryMode: octal("StateDirectoryMode", 0o755),
    workingDirectory: one("WorkingDirectory"),
    umask: raw.has("UMask") ? octal("UMask", 0o022) : undefined,
    limitNofile: nofile === undefined ? undefined : Number(nofile.split(":").at(-1)),
    limitRtprio: rtprio === undefined ? undefined : Number(rtprio.split(":").at(-1)),
    protectSystem: one("ProtectSystem"),
    protectHome: one("ProtectHome"),
    privateTmp: bool("PrivateTmp"),
    noNewPrivileges: bool("NoNewPrivileges"),
    protectKernelTunables: bool("ProtectKernelTunables"),
    capabilityBoundingSet: raw.has("CapabilityBoundingSet")
      ? words("CapabilityBoundingSet")
      : ["all"],
    systemCallFilter: raw.get("SystemCallFilter") ?? [],
    systemCallErrorNumber: one("SystemCallErrorNumber"),
    raw,
  };
}

/** Splits an Exec*= value into words (double quotes group; systemd's prefixes dropped). */
function commandLine(value: string): string[] {
  const v = value.replace(/^[-@:+!]+/, "");
  const out: string[] = [];
  for (const m of v.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) out.push(m[1] ?? m[2]);
  if (out.some((w) => /^%|\$\{?[A-Z]/.test(w))) {
    throw new ServiceUnitError("specifiers and $VARIABLES are not supported here", value);
  }
  return out;
}

/** systemd's allow/deny semantics over `@group`s, expanded with `systemd-analyze`. */
export async function resolveSyscallAllowList(filter: readonly string[]): Promise<string[]> {
  if (filter.length === 0) return [];
  const { stdout } = await runCommand(["systemd-analyze", "syscall-filter"]);
  const groups = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    if (/^\s/.test(line)) {
      current?.push(t);
    } else {
      current = [];
      groups.set(t, current);
    }
  }
  const expand = (name: string, seen = new Set<string>()): string[] => {
    if (!name.startsWith("@")) return [name];
    if (seen.has(name)) return [];
    seen.add(name);
    const members = groups.get(name);
    if (!members) throw new ServiceUnitError("unknown system call group", name);
    return members.flatMap((m) => expand(m, seen));
  };
  const first = filter[0].trim();
  if (first.startsWith("~")) {
    throw new ServiceUnitError("only allow-list filters (not starting with ~) are emulated", first);
  }
  // systemd always permits these, whatever the filter says.
  const allowed = new Set<string>(["execve", "exit", "exit_group", "getrlimit", "rt_sigreturn"]);
  for (const line of filter) {
    const deny = line.trim().startsWith("~");
    for (const name of line.trim().replace(/^~/, "").split(/\s+/).filter(Boolean)) {
      for (const call of expand(name.replace(/:.*$/, ""))) {
        if (deny) allowed.delete(call);
        else allowed.add(call);
      }
    }
  }
  return [...allowed].sort();
}

/** The unit's directories as prepared for a run. */
export interface ServiceDirectories {
  /** `StateDirectory=` paths: real, persistent, owned by the unit's user. */
  stateDirs: string[];
  /** `RuntimeDirectory=` paths: a fresh private tmpfs each in the run's mount namespace. */
  runtimeDirs: string[];
  /** Mount points this call created on the host (removed by {@linkcode releaseServiceDirectories}). */
  createdMountPoints: string[];
}

/**
 * Prepares the unit's directories the way systemd does at start: state directories are
 * created (or taken over) with the unit's owner and mode; runtime directories become empty
 * private tmpfs mounts in the run's namespace (systemd creates them fresh and removes them at
 * stop), so a run never sees or leaves files in the host's /run.
 */
export async function prepareServiceDirectories(unit: ServiceUnit): Promise<ServiceDirectories> {
  const dirs: ServiceDirectories = { stateDirs: [], runtimeDirs: [], createdMountPoints: [] };
  for (const d of unit.stateDirectories) {
    const path = `/var/lib/${d}`;
    await Deno.mkdir(path, { recursive: true });
    await runCommand(["chown", `${unit.user}:${unit.group}`, path]);
    await Deno.chmod(path, unit.stateDirectoryMode);
    dirs.stateDirs.push(path);
  }
  for (const d of unit.runtimeDirectories) {
    const path = `/run/${d}`;
    try {
      await Deno.mkdir(path);
      dirs.createdMountPoints.push(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    }
    dirs.runtimeDirs.push(path);
  }
  return dirs;
}

/**
 * Removes the mount points {@linkcode prepareServiceDirectories} created. One that another
 * process has meanwhile put files in (a host-side engine using the same default directory) is
 * left alone; those paths are returned.
 */
export async function releaseServiceDirectories(dirs: ServiceDirectories): Promise<string[]> {
  const kept: string[] = [];
  for (const path of dirs.createdMountPoints) {
    try {
      await Deno.remove(path);
    } catch (err) {
      if (!(err instanceof Error && /not empty/i.test(err.message))) throw err;
      kept.push(path);
    }
  }
  return kept;
}

const ERRNO: Readonly<Record<string, number>> = Object.freeze({
  EPERM: 1,
  EACCES: 13,
  ENOSYS: 38,
});

/** Python run by setpriv: loads the seccomp allow list, then execs the command. */
const SECCOMP_EXEC = `
import ctypes, os, sys
names, err, argv = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3:]
lib = ctypes.CDLL("libseccomp.so.2")
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
ctx = lib.seccomp_init(0x00050000 | err if err > 0 else 0x80000000)
if not ctx:
    sys.exit("seccomp_init failed")
for n in names:
    nr = lib.seccomp_syscall_resolve_name(n.encode())
    if nr < 0:
        continue
    rc = lib.seccomp_rule_add(ctx, 0x7fff0000, nr, 0)
    if rc < 0:
        sys.exit("seccomp_rule_add %s: %d" % (n, rc))
rc = lib.seccomp_load(ctx)
if rc < 0:
    sys.exit("seccomp_load: %d" % rc)
os.execv(argv[0], argv)
`;

/** The mount and limit set-up, run as root inside the new mount namespace. */
function namespaceScript(
  unit: ServiceUnit,
  dirs: ServiceDirectories,
  privateNetwork: boolean,
): string {
  const lines = ["set -e"];
  if (privateNetwork) lines.push("ip link set lo up");
  if (unit.protectSystem === "strict") {
    // Every mount read-only except the API file systems (systemd handles those separately).
    lines.push(
      `awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r mp; do`,
      `  case "$mp" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac`,
      `  mount -o remount,bind,ro "$mp"`,
      `done`,
    );
  } else if (unit.protectSystem !== undefined && !/^(no|false|off|0)$/i.test(unit.protectSystem)) {
    throw new ServiceUnitError("only ProtectSystem=strict is emulated", unit.protectSystem);
  }
  if (unit.protectKernelTunables) {
    lines.push(
      "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys",
      "mount -o remount,bind,ro /sys",
    );
  }
  for (const dir of dirs.stateDirs) {
    lines.push(`mount --bind ${dir} ${dir} && mount -o remount,bind,rw ${dir}`);
  }
  const mode = unit.runtimeDirectoryMode.toString(8).padStart(4, "0");
  for (const dir of dirs.runtimeDirs) {
    lines.push(
      `mount -t tmpfs -o mode=${mode},uid=$(id -u ${unit.user}),gid=$(id -g ${unit.user}),` +
        `nosuid,nodev tmpfs ${dir}`,
    );
  }
  if (unit.privateTmp) {
    lines.push(
      "mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp",
      "mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp",
    );
  }
  if (unit.protectHome === "yes" || unit.protectHome === "true") {
    lines.push(
      "for d in /home /root /run/user; do",
      "  if [ -d $d ]; then mount -t tmpfs -o ro,mode=000 tmpfs $d; fi",
      "done",
    );
  }
  if (unit.limitNofile !== undefined) {
    // Without CAP_SYS_RESOURCE (some containers) the hard limit cannot be raised: say so.
    lines.push(
      `if ! ulimit -n ${unit.limitNofile} 2>/dev/null; then`,
      `  echo "unit_sandbox: LimitNOFILE=${unit.limitNofile} not allowed here;` +
        ` using the hard limit $(ulimit -Hn)" >&2`,
      `  ulimit -n "$(ulimit -Hn)"`,
      `fi`,
    );
  }
  if (unit.limitRtprio !== undefined) {
    // Raising the hard limit needs CAP_SYS_RESOURCE, which some containers lack: say so.
    lines.push(
      `if ! prlimit --pid $$ --rtprio=${unit.limitRtprio}:${unit.limitRtprio} 2>/dev/null; then`,
      `  echo "unit_sandbox: LimitRTPRIO=${unit.limitRtprio} not allowed here;` +
        ` keeping $(prlimit --pid $$ --rtprio --noheadings --output=SOFT,HARD)" >&2`,
      `fi`,
    );
  }
  if (unit.umask !== undefined) lines.push(`umask ${unit.umask.toString(8).padStart(4, "0")}`);
  if (unit.workingDirectory) lines.push(`cd ${unit.workingDirectory}`);
  lines.push('exec "$@"');
  return lines.filter(Boolean).join("\n");
}

/** Options of {@linkcode sandboxedCommand}. */
export interface SandboxedCommandOptions {
  /** The unit's directories (from {@linkcode prepareServiceDirectories}). */
  dirs: ServiceDirectories;
  /** Allowed system calls (from {@linkcode resolveSyscallAllowList}); empty: no filter. */
  syscalls: readonly string[];
  /** The user's home directory, for `HOME`. */
  home: string;
  /**
   * Test isolation beyond the unit: a private network namespace with only loopback, so the
   * run's fixed ports cannot collide with the host's. Reach it with
   * `nsenter --net=/proc/<pid>/ns/net` (the returned command execs, so `<pid>` is the
   * spawned child's).
   */
  privateNetwork?: boolean;
}

/** The full command line that runs `argv` like the unit would (start it as root). */
export function sandboxedCommand(
  unit: ServiceUnit,
  argv: readonly string[],
  opts: SandboxedCommandOptions,
): string[] {
  const caps = unit.capabilityBoundingSet;
  if (caps.length > 0 && !(caps.length === 1 && caps[0] === "all")) {
    throw new ServiceUnitError("only an empty or absent CapabilityBoundingSet=", caps.join(" "));
  }
  const setpriv = [
    "setpriv",
    `--reuid=${unit.user}`,
    `--regid=${unit.group}`,
    "--init-groups",
    "--inh-caps=-all",
    ...(unit.noNewPrivileges ? ["--no-new-privs"] : []),
    ...(caps.length === 0 ? ["--bounding-set=-all"] : []),
    "--",
  ];
  const env = [
    "env",
    "-i",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    `HOME=${opts.home}`,
    `USER=${unit.user}`,
    `LOGNAME=${unit.user}`,
    "SHELL=/usr/sbin/nologin",
    ...(unit.runtimeDirectories.length
      ? [`RUNTIME_DIRECTORY=${unit.runtimeDirectories.map((d) => `/run/${d}`).join(":")}`]
      : []),
    ...(unit.stateDirectories.length
      ? [`STATE_DIRECTORY=${unit.stateDirectories.map((d) => `/var/lib/${d}`).join(":")}`]
      : []),
  ];
  let errno = 0;
  if (unit.systemCallErrorNumber !== undefined) {
    errno = ERRNO[unit.systemCallErrorNumber] ?? Number(unit.systemCallErrorNumber);
    if (!Number.isInteger(errno) || errno <= 0) {
      throw new ServiceUnitError("unknown SystemCallErrorNumber", unit.systemCallErrorNumber);
    }
  }
  const filter = opts.syscalls.length
    ? ["/usr/bin/python3", "-I", "-c", SECCOMP_EXEC, opts.syscalls.join(","), String(errno)]
    : [];
  return [
    "unshare",
    "--mount",
    ...(opts.privateNetwork ? ["--net"] : []),
    "--propagation",
    "private",
    "/bin/sh",
    "-c",
    namespaceScript(unit, opts.dirs, opts.privateNetwork ?? false),
    "sh",
    ...env,
    ...setpriv,
    ...filter,
    ...argv,
  ];
}
