// glassbox-shim: the process that becomes the container.
//
// Node is multi-threaded, so it cannot unshare its mount or user namespace,
// setns, or pivot_root itself (runc has the same problem with Go, and solves
// it with nsexec.c). This small single-threaded program does those calls for
// it. It decides nothing: it reads one command at a time from fd 3 (one JSON
// object a line), does it with the raw syscall, and answers. Node drives the
// order, which is what lets every stage pause with the container half built.
//
// After fork_init, the child (PID 1 of the new PID namespace) answers the
// commands; the parent only waits for it and reports how it ended.
#include <fcntl.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/bpf.h>
#include <cstddef>
#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "protocol.h"

using json = nlohmann::json;

namespace {

constexpr int kControlFd = 3;

// Mounts open_tree detached, open until move_mount attaches them.
std::set<int> detached;

// ---- the control socket: one JSON object a line, both ways ----

std::string inbuf;

bool ReadLine(std::string& line) {
  for (;;) {
    auto nl = inbuf.find('\n');
    if (nl != std::string::npos) {
      line = inbuf.substr(0, nl);
      inbuf.erase(0, nl + 1);
      return true;
    }
    char buf[4096];
    ssize_t n = read(kControlFd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    inbuf.append(buf, n);
  }
}

void Send(const json& j) {
  std::string s = j.dump() + "\n";
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    ssize_t n = write(kControlFd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(glassbox::kExitProtocol);  // Node is gone: nothing left to answer
    p += n;
    left -= n;
  }
}

// A failed call, as crun's send_error_to_sync_socket: errno, syscall, path.
struct SysError {
  int err;
  std::string syscall;
  std::string path;
  /** Replaces strerror(err) when the kernel's words would not say it. */
  std::string message = "";
};

[[noreturn]] void Fail(const std::string& syscall, const std::string& path = "") {
  throw SysError{errno, syscall, path};
}

// ---- flag names, as the lessons and the trace show them ----

const std::map<std::string, unsigned long> kCloneFlags = {
    {"CLONE_NEWNS", CLONE_NEWNS},   {"CLONE_NEWUTS", CLONE_NEWUTS},       {"CLONE_NEWIPC", CLONE_NEWIPC},
    {"CLONE_NEWNET", CLONE_NEWNET}, {"CLONE_NEWPID", CLONE_NEWPID},       {"CLONE_NEWUSER", CLONE_NEWUSER},
    {"CLONE_NEWCGROUP", CLONE_NEWCGROUP},
};

const std::map<std::string, unsigned long> kMountFlags = {
    {"MS_RDONLY", MS_RDONLY},     {"MS_NOSUID", MS_NOSUID},   {"MS_NODEV", MS_NODEV},         {"MS_NOEXEC", MS_NOEXEC},
    {"MS_REMOUNT", MS_REMOUNT},   {"MS_BIND", MS_BIND},       {"MS_REC", MS_REC},             {"MS_PRIVATE", MS_PRIVATE},
    {"MS_SLAVE", MS_SLAVE},       {"MS_SHARED", MS_SHARED},   {"MS_RELATIME", MS_RELATIME},   {"MS_STRICTATIME", MS_STRICTATIME},
    {"MS_NOATIME", MS_NOATIME},   {"MS_MOVE", MS_MOVE},
};

unsigned long Flags(const json& names, const std::map<std::string, unsigned long>& table) {
  unsigned long f = 0;
  if (names.is_null()) return 0;
  for (const auto& n : names) {
    auto it = table.find(n.get<std::string>());
    if (it == table.end()) throw std::runtime_error("unknown flag " + n.get<std::string>());
    f |= it->second;
  }
  return f;
}

std::string Str(const json& msg, const char* key, const char* dflt = nullptr) {
  if (msg.contains(key) && msg[key].is_string()) return msg[key].get<std::string>();
  if (dflt) return dflt;
  throw std::runtime_error(std::string("missing string argument ") + key);
}

// ---- exec: find the program the way execvp does, in the container's PATH ----

std::string FindInPath(const std::string& file, const std::string& path) {
  if (file.find('/') != std::string::npos) return file;
  size_t start = 0;
  for (;;) {
    size_t end = path.find(':', start);
    std::string dir = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (dir.empty()) dir = ".";
    std::string cand = dir + "/" + file;
    struct stat st;
    if (stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(cand.c_str(), X_OK) == 0) return cand;
    if (end == std::string::npos) return "";
    start = end + 1;
  }
}

[[noreturn]] void Exec(const json& msg) {
  std::vector<std::string> argv = msg.at("argv").get<std::vector<std::string>>();
  std::vector<std::string> env = msg.value("env", std::vector<std::string>{});
  if (argv.empty()) throw std::runtime_error("exec: empty argv");
  std::string cwd = Str(msg, "cwd", "/");
  if (chdir(cwd.c_str()) != 0) Fail("chdir", cwd);
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : env)
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  std::string prog = FindInPath(argv[0], path);
  if (prog.empty()) {
    errno = ENOENT;
    Send({{"id", msg.value("id", 0)}, {"ok", false}, {"errno", "ENOENT"}, {"syscall", "execve"}, {"path", argv[0]},
          {"message", "executable file not found in $PATH"}});
    _exit(glassbox::kExitNotFound);
  }
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  // Nothing glassbox inherited may reach the program: every descriptor above
  // 2 closes at execve, as runc does.
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < 1024; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  // The answer goes first: a successful execve closes the socket (CLOEXEC)
  // and can say nothing more. A failure after it is an event.
  Send({{"id", msg.value("id", 0)}, {"ok", true}, {"path", prog}});
  execve(prog.c_str(), cargv.data(), cenv.data());
  int err = errno;
  Send({{"event", "exec_failed"}, {"errno", strerrorname_np(err) ? strerrorname_np(err) : "EUNKNOWN"}, {"path", prog},
        {"message", strerror(err)}});
  _exit(err == ENOENT ? glassbox::kExitNotFound : glassbox::kExitCannotExec);
}

// ---- fork_init: the first process of the new PID namespace ----

// The parent passes signals on to init: Node never signals init by PID, which
// could be a recycled PID once init is reaped, and the parent is never killed
// before init, which would leave init an orphan.
volatile pid_t init_pid = 0;

void Forward(int sig) {
  if (init_pid > 0) kill(init_pid, sig == glassbox::kSignalKillInit ? SIGKILL : sig);
}

// Returns in the child (which goes on answering); the parent never returns.
void ForkInit(const json& msg) {
  pid_t child = fork();
  if (child < 0) Fail("fork");
  if (child == 0) {
    // Init dies with the helper: nothing of the container outlives glassbox.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Its answer is the main loop's, like every other command's.
    (void)msg;
    return;
  }
  // Parent: wait for init, then say how it ended. Node learns the host PID here.
  init_pid = child;
  struct sigaction sa {};
  sa.sa_handler = Forward;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, glassbox::kSignalKillInit}) sigaction(sig, &sa, nullptr);
  Send({{"event", "init"}, {"pid", child}});
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    Send({{"event", "exit"}, {"signal", WTERMSIG(status)}, {"core", WCOREDUMP(status) != 0}});
  else
    Send({{"event", "exit"}, {"status", WEXITSTATUS(status)}});
  _exit(0);
}

// ---- resource limits and the syscall filter ----

const std::map<std::string, int> kRlimits = {
    {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},       {"RLIMIT_FSIZE", RLIMIT_FSIZE},       {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},   {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#endif

// A deny-list filter, the numbers chosen by Node (src/runtime/seccomp.ts):
// {deny: [nr], enosys: [nr], clone?: nr, nsMask?: flags}. Another
// architecture's calls and x32's are refused outright; clone with any of
// nsMask's flags gets EPERM (a container may not make namespaces).
void InstallSeccomp(const json& msg) {
  std::vector<uint32_t> deny = msg.at("deny").get<std::vector<uint32_t>>();
  std::vector<uint32_t> enosys = msg.value("enosys", std::vector<uint32_t>{});
  int cloneNr = msg.value("clone", -1);
  uint32_t nsMask = msg.value("nsMask", 0u);
  const uint32_t kEperm = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
  const uint32_t kEnosys = SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA);
  std::vector<sock_filter> f;
  auto stmt = [&](uint16_t code, uint32_t k) { f.push_back(BPF_STMT(code, k)); };
  auto jump = [&](uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { f.push_back(BPF_JUMP(code, k, jt, jf)); };
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  jump(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
#if defined(__x86_64__)
  // x32 numbers (bit 30) reach the same kernel code under other numbers: refuse them.
  jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);
  stmt(BPF_RET | BPF_K, kEperm);
#endif
  for (uint32_t nr : deny) {
    jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1);
    stmt(BPF_RET | BPF_K, kEperm);
  }
  for (uint32_t nr : enosys) {
    jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1);
    stmt(BPF_RET | BPF_K, kEnosys);
  }
  if (cloneNr >= 0 && nsMask) {
    // clone's flags: the first argument on x86_64 and aarch64 (its low 32 bits).
    jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(cloneNr), 0, 4);
    stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0]));
    jump(BPF_JMP | BPF_JSET | BPF_K, nsMask, 0, 1);
    stmt(BPF_RET | BPF_K, kEperm);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  }
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) Fail("seccomp", "SECCOMP_SET_MODE_FILTER");
}

// ---- the devices a container may use, on cgroup v2 ----

// cgroup v2 has no devices.allow file: the kernel asks a BPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup, for every mknod and
// every open of a device node (runc generates the same kind of program).
// rules: [{type: 'a'|'b'|'c', major: -1|n, minor: -1|n, access: "rwm"}], allowed;
// everything else is refused with EPERM.
void DeviceFilter(const json& msg) {
  std::string path = Str(msg, "path");
  std::vector<bpf_insn> p;
  auto ins = [&p](uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    p.push_back(i);
  };
  // r1: struct bpf_cgroup_dev_ctx {u32 access_type (access << 16 | type); u32 major; u32 minor;}
  ins(BPF_LDX | BPF_W | BPF_MEM, 2, 1, 0, 0);
  ins(BPF_ALU64 | BPF_MOV | BPF_X, 3, 2, 0, 0);
  ins(BPF_ALU64 | BPF_AND | BPF_K, 3, 0, 0, 0xffff);  // r3: type
  ins(BPF_ALU64 | BPF_MOV | BPF_X, 4, 2, 0, 0);
  ins(BPF_ALU64 | BPF_RSH | BPF_K, 4, 0, 0, 16);  // r4: access
  ins(BPF_LDX | BPF_W | BPF_MEM, 5, 1, 4, 0);     // r5: major
  ins(BPF_LDX | BPF_W | BPF_MEM, 6, 1, 8, 0);     // r6: minor
  for (const auto& r : msg.at("rules")) {
    std::string type = r.at("type").get<std::string>();
    int major = r.at("major").get<int>(), minor = r.at("minor").get<int>();
    int access = 0;
    for (char c : r.at("access").get<std::string>()) access |= c == 'm' ? BPF_DEVCG_ACC_MKNOD : c == 'r' ? BPF_DEVCG_ACC_READ : c == 'w' ? BPF_DEVCG_ACC_WRITE : 0;
    // Each test jumps past the rest of this rule when it does not match.
    std::vector<bpf_insn> block;
    std::vector<size_t> exits;
    auto test = [&](uint8_t reg, int32_t value) {
      exits.push_back(block.size());
      bpf_insn i{};
      i.code = BPF_JMP | BPF_JNE | BPF_K;
      i.dst_reg = reg;
      i.imm = value;
      block.push_back(i);
    };
    if (type == "b") test(3, BPF_DEVCG_DEV_BLOCK);
    if (type == "c") test(3, BPF_DEVCG_DEV_CHAR);
    if (major >= 0) test(5, major);
    if (minor >= 0) test(6, minor);
    // Allowed only if it asks for nothing outside the rule's access.
    bpf_insn mv{}; mv.code = BPF_ALU64 | BPF_MOV | BPF_X; mv.dst_reg = 7; mv.src_reg = 4; block.push_back(mv);
    bpf_insn an{}; an.code = BPF_ALU | BPF_AND | BPF_K; an.dst_reg = 7; an.imm = ~access & 0xffff; block.push_back(an);
    test(7, 0);
    bpf_insn ok{}; ok.code = BPF_ALU64 | BPF_MOV | BPF_K; ok.dst_reg = 0; ok.imm = 1; block.push_back(ok);
    bpf_insn ex{}; ex.code = BPF_JMP | BPF_EXIT; block.push_back(ex);
    for (size_t at : exits) block[at].off = static_cast<int16_t>(block.size() - at - 1);
    p.insert(p.end(), block.begin(), block.end());
  }
  ins(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
  ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

  std::vector<char> log(65536);
  union bpf_attr load {};
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = reinterpret_cast<uint64_t>(p.data());
  load.insn_cnt = static_cast<uint32_t>(p.size());
  static const char kLicense[] = "MIT";
  load.license = reinterpret_cast<uint64_t>(kLicense);
  load.log_buf = reinterpret_cast<uint64_t>(log.data());
  load.log_size = static_cast<uint32_t>(log.size());
  load.log_level = 1;
  int prog = static_cast<int>(syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load));
  if (prog < 0) {
    int err = errno;
    std::string first(log.data(), strnlen(log.data(), log.size()));
    errno = err;
    Fail("bpf", first.empty() ? "BPF_PROG_LOAD" : "BPF_PROG_LOAD: " + first.substr(0, first.find('\n')));
  }
  int cg = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) {
    int err = errno;
    close(prog);
    errno = err;
    Fail("open", path);
  }
  union bpf_attr attach {};
  attach.target_fd = static_cast<uint32_t>(cg);
  attach.attach_bpf_fd = static_cast<uint32_t>(prog);
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  long rc = syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof attach);
  int err = errno;
  // The cgroup holds the program now; our descriptors can go.
  close(cg);
  close(prog);
  if (rc != 0) {
    errno = err;
    Fail("bpf", "BPF_PROG_ATTACH " + path);
  }
}

// ---- users and capabilities ----

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t p = 0;
  for (;;) {
    size_t q = s.find(sep, p);
    out.push_back(s.substr(p, q == std::string::npos ? std::string::npos : q - p));
    if (q == std::string::npos) return out;
    p = q + 1;
  }
}

std::string Chomp(const char* line) {
  std::string l(line);
  if (!l.empty() && l.back() == '\n') l.pop_back();
  return l;
}

// "name", "uid", "name:group", "uid:gid", resolved in the container's own
// /etc/passwd and /etc/group (after pivot_root), as docker does.
void ResolveUser(const std::string& spec, json& out) {
  std::string user = spec, group;
  auto colon = spec.find(':');
  if (colon != std::string::npos) {
    user = spec.substr(0, colon);
    group = spec.substr(colon + 1);
  }
  auto numeric = [](const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; };
  long uid = -1, gid = -1;
  std::string home = "/", name = user;
  FILE* pw = fopen("/etc/passwd", "re");
  if (pw) {
    char line[1024];
    while (fgets(line, sizeof line, pw)) {
      std::vector<std::string> f = Split(Chomp(line), ':');
      if (f.size() < 6) continue;
      if (f[0] == user || (numeric(user) && f[2] == user)) {
        uid = std::stol(f[2]);
        gid = std::stol(f[3]);
        home = f[5];
        name = f[0];
        break;
      }
    }
    fclose(pw);
  }
  if (uid < 0) {
    if (!numeric(user)) {
      errno = ENOENT;
      throw SysError{ENOENT, "", "", "unable to find user " + user + ": no matching entries in passwd file"};
    }
    uid = std::stol(user);
    gid = 0;
  }
  std::vector<gid_t> groups;
  if (!group.empty()) {
    if (numeric(group)) {
      gid = std::stol(group);
    } else {
      gid = -1;
    }
  }
  FILE* gr = fopen("/etc/group", "re");
  if (gr) {
    char line[4096];
    while (fgets(line, sizeof line, gr)) {
      std::vector<std::string> f = Split(Chomp(line), ':');
      if (f.size() < 4) continue;
      if (!group.empty() && !numeric(group) && f[0] == group) gid = std::stol(f[2]);
      // Supplementary groups: those that list the user by name.
      if (!f[3].empty())
        for (const auto& member : Split(f[3], ','))
          if (member == name) groups.push_back(std::stol(f[2]));
    }
    fclose(gr);
  }
  if (gid < 0) throw SysError{ENOENT, "", "", "unable to find group " + group + ": no matching entries in group file"};
  out["uid"] = uid;
  out["gid"] = gid;
  out["groups"] = groups;
  out["home"] = home;
}

struct CapHeader {
  uint32_t version;
  int pid;
};
struct CapData {
  uint32_t effective, permitted, inheritable;
};

const char* kCapNames[] = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                           "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
                           "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
                           "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
                           "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
                           "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
                           "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
                           "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};

// Keep only the named capabilities: drop the rest from the bounding set (so
// no exec can regain them), clear the ambient set, then set effective and
// permitted; inheritable stays empty, as docker has it since CVE-2022-24769.
void Capabilities(const std::vector<std::string>& keep, json& out) {
  uint64_t mask = 0;
  for (const auto& k : keep) {
    bool found = false;
    for (size_t i = 0; i < sizeof kCapNames / sizeof *kCapNames; i++)
      if (k == kCapNames[i]) {
        mask |= 1ULL << i;
        found = true;
      }
    if (!found) throw std::runtime_error("unknown capability " + k);
  }
  int last = 0;
  FILE* f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (f) {
    if (fscanf(f, "%d", &last) != 1) last = 40;
    fclose(f);
  } else {
    last = 40;
  }
  for (int c = 0; c <= last; c++) {
    if (mask & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) Fail("prctl", "PR_CAPBSET_DROP");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) Fail("prctl", "PR_CAP_AMBIENT_CLEAR_ALL");
  CapHeader hdr{0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
  CapData data[2] = {{static_cast<uint32_t>(mask), static_cast<uint32_t>(mask), 0},
                     {static_cast<uint32_t>(mask >> 32), static_cast<uint32_t>(mask >> 32), 0}};
  if (syscall(SYS_capset, &hdr, data) != 0) Fail("capset");
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(mask));
  out["effective"] = hex;
}

// ---- the command table ----

// Which command of a batch is running: an error names it, so Node knows what
// was done before it. -1 outside a batch.
int gBatchIndex = -1;

json Handle(const json& msg) {
  const std::string cmd = Str(msg, "cmd");
  json out = {{"ok", true}};
  if (cmd == "hello") {
    out["version"] = glassbox::kProtocolVersion;
    out["pid"] = getpid();
  } else if (cmd == "batch") {
    // Commands in order, each as if sent alone, one answer for all; the first
    // failure ends the batch. Node still decides every call and its order: a
    // batch only saves the round trips of a stage's independent steps.
    json replies = json::array();
    const json& cmds = msg.at("cmds");
    for (size_t i = 0; i < cmds.size(); i++) {
      const std::string c = Str(cmds[i], "cmd");
      if (c == "batch" || c == "hello" || c == "fork_init" || c == "exec") throw std::runtime_error("not in a batch: " + c);
      gBatchIndex = static_cast<int>(i);
      json r = Handle(cmds[i]);
      r.erase("ok");
      replies.push_back(std::move(r));
    }
    gBatchIndex = -1;
    out["replies"] = std::move(replies);
  } else if (cmd == "unshare") {
    if (unshare(static_cast<int>(Flags(msg.at("flags"), kCloneFlags))) != 0) Fail("unshare");
  } else if (cmd == "sethostname") {
    std::string name = Str(msg, "name");
    if (sethostname(name.data(), name.size()) != 0) Fail("sethostname", name);
  } else if (cmd == "mount") {
    std::string source = Str(msg, "source", ""), target = Str(msg, "target"), fstype = Str(msg, "fstype", ""),
                data = Str(msg, "data", "");
    unsigned long flags = Flags(msg.value("flags", json::array()), kMountFlags);
    if (mount(source.empty() ? nullptr : source.c_str(), target.c_str(), fstype.empty() ? nullptr : fstype.c_str(), flags,
              data.empty() ? nullptr : data.c_str()) != 0)
      Fail("mount", target);
  } else if (cmd == "open_tree") {
    // A detached copy of the mount at path (OPEN_TREE_CLONE), kept open here
    // until move_mount attaches it. With idmap (a user namespace file): an
    // idmapped mount, whose files' owners are seen through that namespace's
    // maps, so the image's root-owned files belong to the container's root.
    std::string path = Str(msg, "path"), idmap = Str(msg, "idmap", "");
    int fd = static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (fd < 0) Fail("open_tree", path);
    if (!idmap.empty()) {
      int ns = open(idmap.c_str(), O_RDONLY | O_CLOEXEC);
      int err = errno;
      struct mount_attr attr {};
      attr.attr_set = MOUNT_ATTR_IDMAP;
      attr.userns_fd = static_cast<uint64_t>(ns);
      int r = ns < 0 ? -1 : static_cast<int>(syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof attr));
      if (r != 0 && ns >= 0) err = errno;
      if (ns >= 0) close(ns);
      if (r != 0) {
        close(fd);
        if (ns < 0) {
          errno = err;
          Fail("open", idmap);
        }
        // EINVAL, EPERM, ENOSYS: this kernel or this filesystem cannot idmap a mount.
        throw SysError{err, "mount_setattr", path + " (MOUNT_ATTR_IDMAP)",
                       std::string(strerror(err)) + ": idmapped mounts need Linux 5.12+ and a filesystem that allows them (overlayfs on them 5.19+)"};
      }
    }
    detached.insert(fd);
    out["fd"] = fd;
  } else if (cmd == "move_mount") {
    // Attach a mount open_tree detached (and close it: the tree now lives at target).
    int fd = msg.at("fd").get<int>();
    std::string target = Str(msg, "target");
    if (!detached.count(fd)) throw std::runtime_error("move_mount: fd " + std::to_string(fd) + " is not one open_tree gave");
    detached.erase(fd);
    int r = static_cast<int>(syscall(SYS_move_mount, fd, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH));
    int err = errno;
    close(fd);
    errno = err;
    if (r != 0) Fail("move_mount", target);
  } else if (cmd == "chown") {
    std::string path = Str(msg, "path");
    if (lchown(path.c_str(), msg.at("uid").get<uid_t>(), msg.at("gid").get<gid_t>()) != 0) Fail("lchown", path);
  } else if (cmd == "umount") {
    std::string target = Str(msg, "target");
    int flags = msg.value("detach", false) ? MNT_DETACH : 0;
    if (umount2(target.c_str(), flags) != 0) Fail("umount2", target);
  } else if (cmd == "mkdir") {
    std::string path = Str(msg, "path");
    if (mkdir(path.c_str(), msg.value("mode", 0755)) != 0 && (errno != EEXIST || msg.value("exclusive", false))) Fail("mkdir", path);
  } else if (cmd == "write_file") {
    // One write(2) of the whole value, no O_CREAT: what cgroupfs wants.
    std::string path = Str(msg, "path"), data = Str(msg, "data");
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) Fail("open", path);
    ssize_t n = write(fd, data.data(), data.size());
    int err = errno;
    close(fd);
    if (n < 0) {
      errno = err;
      Fail("write", path);
    }
  } else if (cmd == "mknod") {
    std::string path = Str(msg, "path");
    mode_t mode = msg.at("mode").get<unsigned>();
    if (mknod(path.c_str(), mode, makedev(msg.value("major", 0u), msg.value("minor", 0u))) != 0 && errno != EEXIST)
      Fail("mknod", path);
    if (chmod(path.c_str(), mode & 07777) != 0) Fail("chmod", path);
  } else if (cmd == "symlink") {
    std::string target = Str(msg, "target"), path = Str(msg, "path");
    if (symlink(target.c_str(), path.c_str()) != 0 && errno != EEXIST) Fail("symlink", path);
  } else if (cmd == "pivot_root") {
    // runc's way: pivot_root(".", ".") stacks the old root on the new one,
    // then a lazy unmount of "." takes the old root away. No put_old dir.
    std::string root = Str(msg, "root");
    int fd = open(root.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (fd < 0) Fail("open", root);
    if (fchdir(fd) != 0) Fail("fchdir", root);
    close(fd);
    if (syscall(SYS_pivot_root, ".", ".") != 0) Fail("pivot_root", root);
    if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) Fail("mount", "/ (make old root rslave)");
    if (umount2(".", MNT_DETACH) != 0) Fail("umount2", "old root");
    if (chdir("/") != 0) Fail("chdir", "/");
  } else if (cmd == "loopback_up") {
    // A new network namespace has only "lo", and it is down.
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) Fail("socket");
    struct ifreq ifr {};
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
      close(fd);
      Fail("ioctl", "SIOCGIFFLAGS lo");
    }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) {
      close(fd);
      Fail("ioctl", "SIOCSIFFLAGS lo");
    }
    close(fd);
  } else if (cmd == "mask") {
    // runc's masked paths: a file is covered by /dev/null, a directory by an
    // empty read-only tmpfs. A path the kernel does not have is fine.
    std::string path = Str(msg, "path");
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      if (errno != ENOENT) Fail("stat", path);
      out["skipped"] = true;
    } else if (S_ISDIR(st.st_mode)) {
      if (mount("tmpfs", path.c_str(), "tmpfs", MS_RDONLY, nullptr) != 0) Fail("mount", path);
    } else if (mount("/dev/null", path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      Fail("mount", path);
    }
  } else if (cmd == "readonly") {
    // A bind mount of the path on itself, then remounted read-only.
    std::string path = Str(msg, "path");
    if (mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      if (errno != ENOENT) Fail("mount", path);
      out["skipped"] = true;
    } else if (mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
      Fail("mount", path + " (remount read-only)");
    }
  } else if (cmd == "no_new_privs") {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail("prctl", "PR_SET_NO_NEW_PRIVS");
  } else if (cmd == "user") {
    // Groups first, then the group, then the user: after setuid there is no
    // privilege left to change the others.
    std::vector<gid_t> groups = msg.value("groups", std::vector<gid_t>{});
    if (setgroups(groups.size(), groups.data()) != 0) Fail("setgroups");
    if (setgid(msg.at("gid").get<gid_t>()) != 0) Fail("setgid");
    if (setuid(msg.at("uid").get<uid_t>()) != 0) Fail("setuid");
  } else if (cmd == "resolve_user") {
    ResolveUser(Str(msg, "spec"), out);
  } else if (cmd == "rlimits") {
    // setrlimit for each: the limits survive execve and bind the program.
    for (const auto& l : msg.at("limits")) {
      std::string name = l.at("type").get<std::string>();
      auto it = kRlimits.find(name);
      if (it == kRlimits.end()) throw std::runtime_error("unknown rlimit " + name);
      struct rlimit r {};
      r.rlim_cur = l.at("soft").get<double>() < 0 ? RLIM_INFINITY : static_cast<rlim_t>(l.at("soft").get<double>());
      r.rlim_max = l.at("hard").get<double>() < 0 ? RLIM_INFINITY : static_cast<rlim_t>(l.at("hard").get<double>());
      if (setrlimit(it->second, &r) != 0) Fail("setrlimit", name);
    }
  } else if (cmd == "device_filter") {
    DeviceFilter(msg);
  } else if (cmd == "seccomp") {
    InstallSeccomp(msg);
  } else if (cmd == "capabilities") {
    Capabilities(msg.at("keep").get<std::vector<std::string>>(), out);
  } else if (cmd == "setns") {
    // Join another process's namespaces (glassbox exec), in the order given;
    // the mount namespace last, which also moves our root to the container's.
    int pid = msg.at("pid").get<int>();
    std::vector<int> fds;
    std::vector<std::string> types = msg.at("types").get<std::vector<std::string>>();
    for (const auto& t : types) {
      std::string path = "/proc/" + std::to_string(pid) + "/ns/" + t;
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        for (int f : fds) close(f);
        Fail("open", path);
      }
      fds.push_back(fd);
    }
    for (size_t i = 0; i < fds.size(); i++) {
      if (setns(fds[i], 0) != 0) {
        int err = errno;
        for (int f : fds) close(f);
        errno = err;
        Fail("setns", types[i]);
      }
    }
    for (int f : fds) close(f);
  } else if (cmd == "setsid_ctty") {
    // A session of its own with the pty on fd 0 as its controlling terminal:
    // what lets Ctrl-C on the terminal reach the container's program.
    if (setsid() < 0) Fail("setsid");
    if (ioctl(0, TIOCSCTTY, 0) != 0) Fail("ioctl", "TIOCSCTTY");
  } else if (cmd == "chdir") {
    std::string path = Str(msg, "path");
    if (chdir(path.c_str()) != 0) Fail("chdir", path);
  } else if (cmd == "fork_init") {
    ForkInit(msg);
    out["pid"] = 1;
  } else if (cmd == "exec") {
    Exec(msg);
  } else {
    throw std::runtime_error("unknown command " + cmd);
  }
  return out;
}

}  // namespace

int main() {
  // Tell the kernel to kill us if Node dies: no helper outlives glassbox.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (fcntl(kControlFd, F_GETFD) < 0) {
    fprintf(stderr, "glassbox-shim: no control socket on fd 3; it is started by glassbox, not by hand\n");
    return glassbox::kExitProtocol;
  }
  fcntl(kControlFd, F_SETFD, FD_CLOEXEC);
  std::string line;
  while (ReadLine(line)) {
    json msg;
    int id = 0;
    try {
      msg = json::parse(line);
      id = msg.value("id", 0);
      json out = Handle(msg);
      out["id"] = id;
      Send(out);
    } catch (const SysError& e) {
      const char* name = strerrorname_np(e.err);
      json err = {{"id", id}, {"ok", false}, {"errno", name ? name : "EUNKNOWN"}, {"syscall", e.syscall}, {"path", e.path},
                  {"message", e.message.empty() ? strerror(e.err) : e.message}};
      if (gBatchIndex >= 0) err["index"] = gBatchIndex;
      Send(err);
    } catch (const std::exception& e) {
      json err = {{"id", id}, {"ok", false}, {"errno", "EPROTO"}, {"syscall", ""}, {"path", ""}, {"message", e.what()}};
      if (gBatchIndex >= 0) err["index"] = gBatchIndex;
      Send(err);
    }
    gBatchIndex = -1;
  }
  return 0;
}
