// The helper's parent, and its tracer (DESIGN.md section 3).
//
// Node starts glassbox-shim through here, never through child_process: the
// fork happens on a thread of ours, so that thread can ptrace the helper and
// everything it creates (the container included), and wait for them with
// waitpid(-1, __WALL | __WNOTHREAD), which never reaps the children libuv
// spawned. Every ptrace request comes from that one thread. Syscalls reach
// JavaScript in batches through a thread-safe function, never one call each.
//
// The loop is strace's: next event (waitpid), dispatch event (by stop kind).
// Entry and exit come from PTRACE_GET_SYSCALL_INFO (Linux 5.3), so there is
// no per-architecture register code. What to read from a tracee's memory is
// data, a table from TypeScript (src/trace/syscalls/capture.ts): one code
// per argument.
#include "tracer.h"
#include "errors.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace glassbox {
namespace {

// Capture codes: the contract with src/trace/syscalls/capture.ts.
enum Capture : uint8_t {
  kNone = 0,
  kStr = 1,
  kStrV = 2,
  kBufIn = 3,
  kBufOut = 4,
  kSockAddr = 5,
  kMsgHdr = 6,
  kCloneArgs = 7,
  kCapData = 8,
  kIntPair = 9,
  kIntOut = 10,
  kFd = 11,
};

enum TraceMode { kOff = 0, kFull = 1, kLesson = 2 };

#if defined(__x86_64__)
constexpr int64_t kCloneNr = 56;
#elif defined(__aarch64__)
constexpr int64_t kCloneNr = 220;
#else
constexpr int64_t kCloneNr = -1;
#endif

// Caps on what is read from a tracee: enough for paths, argv and the bytes a
// lesson shows; strace's default string cap is 32.
constexpr size_t kStrCap = 4096;
constexpr size_t kBufCap = 256;
constexpr size_t kArgvMax = 64;
constexpr size_t kArgCap = 256;

// One record: 16 doubles (src/trace/native.ts reads the same layout).
constexpr int kRec = 16;
enum Field { fT = 0, fDur, fPid, fTid, fNr, fStage, fRet, fA0, fCapOff = 13, fCapLen = 14, fFlags = 15 };
constexpr uint32_t kHasRet = 1;
constexpr uint32_t kTruncShift = 8;

constexpr size_t kBatchMax = 4096;
constexpr auto kFlushEvery = std::chrono::milliseconds(50);

double NowUs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec / 1000);
}

struct Batch {
  std::vector<double> recs;
  std::vector<uint8_t> data;
};

struct ExitInfo {
  int status = -1;
  int signal = 0;
  int execErrno = 0;
};

// What the tracer knows of a thread between its syscall entry and exit.
struct Task {
  pid_t tgid = 0;
  bool attached = false;  // its first stop (the attach SIGSTOP) was seen
  bool inSyscall = false;
  double t = 0;
  int64_t nr = 0;
  uint64_t args[6] = {0};
  int stage = -1;
  std::vector<uint8_t> caps;  // entry captures, in the record's capture format
  uint32_t trunc = 0;
};

struct State {
  // Set before the thread starts.
  std::string file;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  int fds[4] = {-1, -1, -1, -1};
  TraceMode mode = kOff;
  std::vector<uint8_t> capture;   // 6 per syscall number
  std::vector<uint32_t> lesson;   // syscall numbers stopped on in lesson mode
  uint32_t auditArch = 0;

  Napi::ThreadSafeFunction tsfn;
  std::atomic<int> stage{-1};
  // The stage that begins when a process's execve succeeds (the program's
  // own syscalls are 'running', the execve itself still 'exec'); -2: none.
  std::atomic<int> stageOnExec{-2};
  std::vector<int64_t> execNrs;

  // Handshake with the constructor: the fork's result.
  std::mutex mu;
  std::condition_variable cv;
  bool forked = false;
  pid_t pid = -1;
  int forkErrno = 0;
};

// ---- the child, between fork and execve: async-signal-safe calls only ----

[[noreturn]] void ChildFail(int errpipe, int err) {
  ssize_t n = write(errpipe, &err, sizeof err);
  (void)n;
  _exit(127);
}

[[noreturn]] void Child(State& s, char* const* argv, char* const* envp, sock_fprog* filter, int errpipe) {
  // Out of the way of the descriptors about to be placed at 0..3.
  int ep = fcntl(errpipe, F_DUPFD_CLOEXEC, 10);
  if (ep >= 0) errpipe = ep;
  // libuv's uv_spawn does the same: a clean signal state for the new program.
  sigset_t all;
  sigemptyset(&all);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &dfl, nullptr);
  }
  sigprocmask(SIG_SETMASK, &all, nullptr);
  // Move the descriptors out of the way, then to 0..2 (and 3, the control socket).
  int n = s.fds[3] >= 0 ? 4 : 3;
  int high[4];
  for (int i = 0; i < n; i++) {
    high[i] = fcntl(s.fds[i], F_DUPFD_CLOEXEC, 10);
    if (high[i] < 0) ChildFail(errpipe, errno);
  }
  for (int i = 0; i < n; i++)
    if (dup2(high[i], i) < 0) ChildFail(errpipe, errno);
  // Nothing else of Node's leaks into the helper or the container.
  int keep = errpipe;
  if (keep <= n || syscall(SYS_close_range, n, keep - 1, 0) != 0 || syscall(SYS_close_range, keep + 1, ~0U, 0) != 0) {
    for (int fd = n; fd < 4096; fd++)
      if (fd != keep) close(fd);
  }
  if (s.mode != kOff) {
    if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) ChildFail(errpipe, errno);
    // Wait here until the tracer has set its options: a SECCOMP_RET_TRACE
    // before PTRACE_O_TRACESECCOMP would fail the call with ENOSYS.
    raise(SIGSTOP);
    if (filter && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, filter) != 0) ChildFail(errpipe, errno);
  }
  execve(s.file.c_str(), argv, envp);
  ChildFail(errpipe, errno);
}

// ---- reading a tracee's memory ----

// Reads up to len bytes; stops at the first unreadable page.
size_t ReadMem(pid_t tid, uint64_t addr, void* out, size_t len) {
  size_t got = 0;
  while (got < len) {
    uint64_t a = addr + got;
    size_t page = 4096 - (a & 4095);
    size_t want = std::min(len - got, page);
    struct iovec local = {static_cast<char*>(out) + got, want};
    struct iovec remote = {reinterpret_cast<void*>(a), want};
    ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < want) break;
  }
  return got;
}

// A NUL-terminated string, without its NUL; *cut when it ran past cap.
std::string ReadStr(pid_t tid, uint64_t addr, size_t cap, bool* cut) {
  std::string out;
  char buf[4096];
  *cut = false;
  // Most strings are short paths: a small first read, then up to a page at a time.
  size_t chunk = 128;
  while (out.size() < cap) {
    uint64_t a = addr + out.size();
    size_t want = std::min({cap - out.size(), static_cast<size_t>(4096 - (a & 4095)), chunk});
    chunk = 4096;
    size_t n = ReadMem(tid, a, buf, want);
    if (n == 0) return out;
    void* nul = memchr(buf, 0, n);
    if (nul) {
      out.append(buf, static_cast<char*>(nul) - buf);
      return out;
    }
    out.append(buf, n);
    if (n < want) return out;
  }
  *cut = true;
  return out;
}

void PutCap(std::vector<uint8_t>& caps, int arg, uint8_t kind, const void* bytes, size_t len) {
  caps.push_back(static_cast<uint8_t>(arg));
  caps.push_back(kind);
  uint32_t l = static_cast<uint32_t>(len);
  const uint8_t* lp = reinterpret_cast<const uint8_t*>(&l);
  caps.insert(caps.end(), lp, lp + 4);
  const uint8_t* b = static_cast<const uint8_t*>(bytes);
  caps.insert(caps.end(), b, b + len);
}

void CaptureBytes(Task& t, pid_t tid, int i, uint8_t kind, uint64_t addr, uint64_t len, size_t cap) {
  if (addr == 0) return;
  size_t want = std::min<uint64_t>(len, cap);
  if (len > cap) t.trunc |= 1u << i;
  std::vector<uint8_t> buf(want);
  size_t n = ReadMem(tid, addr, buf.data(), want);
  PutCap(t.caps, i, kind, buf.data(), n);
}

// Entry: what the table asks to be read before the kernel acts.
void CaptureEntry(State& s, Task& t, pid_t tid) {
  t.caps.clear();
  t.trunc = 0;
  if (t.nr < 0 || static_cast<size_t>(t.nr) * 6 + 6 > s.capture.size()) return;
  const uint8_t* spec = &s.capture[t.nr * 6];
  for (int i = 0; i < 6; i++) {
    uint64_t a = t.args[i];
    uint64_t next = i < 5 ? t.args[i + 1] : 0;
    switch (spec[i]) {
      case kStr: {
        if (a == 0) break;
        bool cut;
        std::string str = ReadStr(tid, a, kStrCap, &cut);
        if (cut) t.trunc |= 1u << i;
        PutCap(t.caps, i, kStr, str.data(), str.size());
        break;
      }
      case kStrV: {
        if (a == 0) break;
        std::string joined;
        for (size_t k = 0; k < kArgvMax; k++) {
          uint64_t p = 0;
          if (ReadMem(tid, a + k * 8, &p, 8) != 8 || p == 0) break;
          bool cut;
          joined += ReadStr(tid, p, kArgCap, &cut);
          joined.push_back('\0');
          if (cut) t.trunc |= 1u << i;
          if (k == kArgvMax - 1) t.trunc |= 1u << i;
        }
        PutCap(t.caps, i, kStrV, joined.data(), joined.size());
        break;
      }
      case kBufIn:
        CaptureBytes(t, tid, i, kBufIn, a, next, kBufCap);
        break;
      case kSockAddr:
        CaptureBytes(t, tid, i, kSockAddr, a, std::min<uint64_t>(next, 128), 128);
        break;
      case kCloneArgs:
        CaptureBytes(t, tid, i, kCloneArgs, a, std::min<uint64_t>(next, 88), 88);
        break;
      case kCapData:
        CaptureBytes(t, tid, i, kCapData, a, 24, 24);
        break;
      case kMsgHdr: {
        if (a == 0) break;
        struct msghdr m {};
        if (ReadMem(tid, a, &m, sizeof m) != sizeof m) break;
        std::vector<uint8_t> out;
        uint32_t nl = std::min<uint32_t>(m.msg_namelen, 128);
        std::vector<uint8_t> name(nl);
        nl = m.msg_name ? static_cast<uint32_t>(ReadMem(tid, reinterpret_cast<uint64_t>(m.msg_name), name.data(), nl)) : 0;
        out.insert(out.end(), reinterpret_cast<uint8_t*>(&nl), reinterpret_cast<uint8_t*>(&nl) + 4);
        out.insert(out.end(), name.begin(), name.begin() + nl);
        uint32_t il = 0;
        std::vector<uint8_t> iov;
        if (m.msg_iovlen > 0 && m.msg_iov) {
          struct iovec v {};
          if (ReadMem(tid, reinterpret_cast<uint64_t>(m.msg_iov), &v, sizeof v) == sizeof v && v.iov_base) {
            if (v.iov_len > kBufCap) t.trunc |= 1u << i;
            iov.resize(std::min<size_t>(v.iov_len, kBufCap));
            il = static_cast<uint32_t>(ReadMem(tid, reinterpret_cast<uint64_t>(v.iov_base), iov.data(), iov.size()));
          }
        }
        out.insert(out.end(), reinterpret_cast<uint8_t*>(&il), reinterpret_cast<uint8_t*>(&il) + 4);
        out.insert(out.end(), iov.begin(), iov.begin() + il);
        PutCap(t.caps, i, kMsgHdr, out.data(), out.size());
        break;
      }
      case kFd: {
        // The file behind the descriptor, as /proc shows it ("pipe:[123]" too).
        int fd = static_cast<int>(a);
        if (fd < 0) break;
        char link[64], target[4096];
        snprintf(link, sizeof link, "/proc/%d/fd/%d", tid, fd);
        ssize_t n = readlink(link, target, sizeof target);
        if (n > 0) PutCap(t.caps, i, kFd, target, static_cast<size_t>(n));
        break;
      }
      default:
        break;
    }
  }
}

// Exit: what the call filled in.
void CaptureExit(State& s, Task& t, pid_t tid, int64_t ret) {
  if (t.nr < 0 || static_cast<size_t>(t.nr) * 6 + 6 > s.capture.size() || ret < 0) return;
  const uint8_t* spec = &s.capture[t.nr * 6];
  for (int i = 0; i < 6; i++) {
    uint64_t a = t.args[i];
    switch (spec[i]) {
      case kBufOut:
        CaptureBytes(t, tid, i, kBufOut, a, static_cast<uint64_t>(ret), kBufCap);
        break;
      case kIntPair:
        CaptureBytes(t, tid, i, kIntPair, a, 8, 8);
        break;
      case kIntOut:
        CaptureBytes(t, tid, i, kIntOut, a, 4, 4);
        break;
      default:
        break;
    }
  }
}

// ---- the tracer thread ----

class Tracer {
 public:
  explicit Tracer(std::shared_ptr<State> s) : s_(std::move(s)) {}

  void Run(char* const* argv, char* const* envp, sock_fprog* filter) {
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0) {
      Announce(-1, errno);
      return;
    }
    pid_t pid = fork();
    if (pid == 0) Child(*s_, argv, envp, filter, ep[1]);
    int forkErr = errno;
    close(ep[1]);
    // Read once the helper is gone; never wait on it.
    fcntl(ep[0], F_SETFL, O_NONBLOCK);
    errpipe_ = ep[0];
    Announce(pid, pid < 0 ? forkErr : 0);
    if (pid < 0) {
      close(ep[0]);
      Finish();
      return;
    }
    helper_ = pid;
    if (s_->mode != kOff) {
      int st;
      // The child's own SIGSTOP, or its death before it (a failed dup2).
      if (waitpid(pid, &st, __WALL | __WNOTHREAD) == pid && WIFSTOPPED(st)) {
        long opts = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
                    PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
        if (s_->mode == kLesson) opts |= PTRACE_O_TRACESECCOMP;
        ptrace(PTRACE_SETOPTIONS, pid, nullptr, reinterpret_cast<void*>(opts));
        Task& t = tasks_[pid];
        t.tgid = pid;
        t.attached = true;
        Resume(pid, 0);
      } else {
        Gone(pid, st);
      }
    }
    // While the tracees are busy the loop hands over full batches; when they
    // go quiet (a shell waiting for input) the watchdog hands over the rest,
    // so the loop never needs a second, non-blocking waitpid per stop.
    std::thread watchdog([this] { Watch(); });
    Loop();
    {
      std::lock_guard<std::mutex> lock(batchMu_);
      stop_ = true;
    }
    watchCv_.notify_all();
    watchdog.join();
    Flush();
    Finish();
  }

 private:
  std::shared_ptr<State> s_;
  pid_t helper_ = -1;
  int errpipe_ = -1;
  ExitInfo exit_;
  bool exitSent_ = false;
  std::unordered_map<pid_t, Task> tasks_;
  // batch_ is shared with the watchdog: batchMu_ guards it; postMu_ keeps
  // batches in order when both hand one over at once.
  std::mutex batchMu_;
  std::mutex postMu_;
  std::condition_variable watchCv_;
  bool stop_ = false;
  Batch batch_;
  std::chrono::steady_clock::time_point lastFlush_ = std::chrono::steady_clock::now();

  void Watch() {
    std::unique_lock<std::mutex> lock(batchMu_);
    while (!stop_) {
      watchCv_.wait_for(lock, kFlushEvery);
      if (stop_) break;
      if (!batch_.recs.empty() && std::chrono::steady_clock::now() - lastFlush_ >= kFlushEvery) {
        lock.unlock();
        Flush();
        lock.lock();
      }
    }
  }

  void Announce(pid_t pid, int err) {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->pid = pid;
    s_->forkErrno = err;
    s_->forked = true;
    s_->cv.notify_all();
  }

  // Restart a stopped task: to the next syscall stop in full mode, to the
  // next seccomp stop in lesson mode (between a seccomp stop and its exit,
  // one PTRACE_SYSCALL, as strace --seccomp-bpf does).
  void Resume(pid_t tid, int sig) {
    Task& t = tasks_[tid];
    int req = (s_->mode == kFull || t.inSyscall) ? PTRACE_SYSCALL : PTRACE_CONT;
    ptrace(static_cast<__ptrace_request>(req), tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
  }

  void Loop() {
    for (;;) {
      int st = 0;
      pid_t tid = waitpid(-1, &st, __WALL | __WNOTHREAD);
      if (tid < 0) {
        if (errno == EINTR) continue;
        return;  // ECHILD: nobody left
      }
      Dispatch(tid, st);
      if (batchFull_) Flush();
    }
  }

  void Dispatch(pid_t tid, int st) {
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      Gone(tid, st);
      return;
    }
    if (!WIFSTOPPED(st)) return;
    int sig = WSTOPSIG(st);
    int event = st >> 16;
    auto it = tasks_.find(tid);
    if (it == tasks_.end() || !it->second.attached) {
      // A new task's first stop (auto-attached by TRACEFORK/CLONE): swallow its SIGSTOP.
      // Its group is known from its creator's event (which may come later): a
      // fork's child leads its own group until the event says otherwise.
      Task& t = tasks_[tid];
      if (!t.tgid) t.tgid = tid;
      t.attached = true;
      Resume(tid, sig == SIGSTOP ? 0 : sig);
      return;
    }
    Task& t = it->second;
    if (sig == (SIGTRAP | 0x80)) {
      SyscallStop(tid, t);
      Resume(tid, 0);
      return;
    }
    if (sig == SIGTRAP && event != 0) {
      if (event == PTRACE_EVENT_SECCOMP) {
        SyscallStop(tid, t);
      } else if (event == PTRACE_EVENT_EXEC) {
        // A thread that was not the leader exec'd: it now has the leader's id.
        unsigned long former = 0;
        ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &former);
        if (static_cast<pid_t>(former) != tid) {
          auto f = tasks_.find(static_cast<pid_t>(former));
          if (f != tasks_.end()) {
            t = f->second;
            tasks_.erase(f);
          }
        }
      } else if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK || event == PTRACE_EVENT_CLONE) {
        unsigned long child = 0;
        ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &child);
        Task& c = tasks_[static_cast<pid_t>(child)];
        // A thread shares its creator's group; fork and vfork make a process.
        // clone's flags are its first argument; clone3's are in memory, so ask /proc.
        if (event != PTRACE_EVENT_CLONE) c.tgid = static_cast<pid_t>(child);
        else if (t.inSyscall && t.nr == kCloneNr) c.tgid = (t.args[0] & CLONE_THREAD) ? t.tgid : static_cast<pid_t>(child);
        else c.tgid = TgidOf(static_cast<pid_t>(child));
      }
      Resume(tid, 0);
      return;
    }
    // A signal on its way to the tracee: deliver it. A group-stop (no siginfo)
    // is not held: the tracee goes on, as under strace without -D.
    siginfo_t si;
    if (ptrace(PTRACE_GETSIGINFO, tid, nullptr, &si) != 0) {
      Resume(tid, 0);
      return;
    }
    Resume(tid, sig);
  }

  static pid_t TgidOf(pid_t tid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/status", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tid;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return tid;
    buf[n] = 0;
    const char* p = strstr(buf, "\nTgid:");
    return p ? static_cast<pid_t>(atoi(p + 6)) : tid;
  }

  void SyscallStop(pid_t tid, Task& t) {
    struct __ptrace_syscall_info info {};
    if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, reinterpret_cast<void*>(sizeof info), &info) <= 0) return;
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY || info.op == PTRACE_SYSCALL_INFO_SECCOMP) {
      // A new entry while one is open means the old one never returned (execve's
      // exit is reported, so this is rare): record it unfinished.
      if (t.inSyscall) Emit(tid, t, false, 0);
      t.inSyscall = true;
      t.t = NowUs();
      t.stage = s_->stage.load(std::memory_order_relaxed);
      if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
        t.nr = static_cast<int64_t>(info.entry.nr);
        memcpy(t.args, info.entry.args, sizeof t.args);
      } else {
        t.nr = static_cast<int64_t>(info.seccomp.nr);
        memcpy(t.args, info.seccomp.args, sizeof t.args);
      }
      CaptureEntry(*s_, t, tid);
    } else if (info.op == PTRACE_SYSCALL_INFO_EXIT) {
      if (!t.inSyscall) return;  // the exit of a call entered before we attached
      int64_t ret = info.exit.rval;
      CaptureExit(*s_, t, tid, ret);
      if (ret == 0 && s_->stageOnExec.load(std::memory_order_relaxed) != -2) {
        for (int64_t nr : s_->execNrs)
          if (nr == t.nr) s_->stage.store(s_->stageOnExec.exchange(-2), std::memory_order_relaxed);
      }
      Emit(tid, t, true, ret);
      t.inSyscall = false;
    }
  }

  bool batchFull_ = false;

  void Emit(pid_t tid, Task& t, bool returned, int64_t ret) {
    double now = NowUs();
    std::lock_guard<std::mutex> lock(batchMu_);
    size_t off = batch_.data.size();
    batch_.data.insert(batch_.data.end(), t.caps.begin(), t.caps.end());
    double r[kRec];
    r[fT] = t.t;
    r[fDur] = now - t.t;
    r[fPid] = t.tgid ? t.tgid : tid;
    r[fTid] = tid;
    r[fNr] = static_cast<double>(t.nr);
    r[fStage] = t.stage;
    r[fRet] = static_cast<double>(ret);
    for (int i = 0; i < 6; i++) r[fA0 + i] = static_cast<double>(static_cast<int64_t>(t.args[i]));
    r[fCapOff] = static_cast<double>(off);
    r[fCapLen] = static_cast<double>(t.caps.size());
    r[fFlags] = static_cast<double>((returned ? kHasRet : 0) | (t.trunc << kTruncShift));
    batch_.recs.insert(batch_.recs.end(), r, r + kRec);
    batchFull_ = batch_.recs.size() >= kBatchMax * kRec;
    t.caps.clear();
  }

  void Gone(pid_t tid, int st) {
    auto it = tasks_.find(tid);
    if (it != tasks_.end()) {
      // Died inside a call (exit_group, or killed): it never returned.
      if (it->second.inSyscall) Emit(tid, it->second, false, 0);
      tasks_.erase(it);
    }
    if (tid == helper_ && !exitSent_) {
      exitSent_ = true;
      if (WIFSIGNALED(st)) exit_.signal = WTERMSIG(st);
      else exit_.status = WEXITSTATUS(st);
      int err = 0;
      if (read(errpipe_, &err, sizeof err) == sizeof err) exit_.execErrno = err;
      close(errpipe_);
      errpipe_ = -1;
      // The helper's end is news at once, whatever else is still traced.
      Flush();
      PostExit();
    }
  }

  void Flush() {
    std::lock_guard<std::mutex> post(postMu_);
    Batch* b;
    {
      std::lock_guard<std::mutex> lock(batchMu_);
      lastFlush_ = std::chrono::steady_clock::now();
      batchFull_ = false;
      if (batch_.recs.empty() || s_->mode == kOff) return;
      b = new Batch(std::move(batch_));
      batch_ = Batch();
    }
    // Blocking: when JavaScript falls behind, the tracees wait (bounded memory).
    napi_status st = s_->tsfn.BlockingCall(b, [](Napi::Env env, Napi::Function cb, Batch* b) {
      std::unique_ptr<Batch> own(b);
      if (env == nullptr) return;
      auto recs = Napi::Float64Array::New(env, b->recs.size());
      memcpy(recs.Data(), b->recs.data(), b->recs.size() * sizeof(double));
      auto data = Napi::Buffer<uint8_t>::Copy(env, b->data.data(), b->data.size());
      cb.Call({Napi::String::New(env, "syscalls"), recs, data});
    });
    if (st != napi_ok) delete b;
  }

  void PostExit() {
    auto* e = new ExitInfo(exit_);
    napi_status st = s_->tsfn.BlockingCall(e, [](Napi::Env env, Napi::Function cb, ExitInfo* e) {
      std::unique_ptr<ExitInfo> own(e);
      if (env == nullptr) return;
      Napi::Object o = Napi::Object::New(env);
      if (e->signal) o.Set("signal", e->signal);
      else o.Set("status", e->status);
      if (e->execErrno) o.Set("execErrno", ErrnoName(e->execErrno));
      cb.Call({Napi::String::New(env, "exit"), o});
    });
    if (st != napi_ok) delete e;
  }

  void Finish() {
    if (helper_ > 0 && !exitSent_) {
      exitSent_ = true;
      PostExit();
    }
    s_->tsfn.BlockingCall([](Napi::Env env, Napi::Function cb) {
      if (env != nullptr) cb.Call({Napi::String::New(env, "done")});
    });
    s_->tsfn.Release();
  }
};

// A BPF program: SECCOMP_RET_TRACE for the lesson's syscalls, allow the rest.
std::vector<sock_filter> LessonFilter(uint32_t arch, const std::vector<uint32_t>& nrs) {
  std::vector<sock_filter> f;
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  size_t n = nrs.size();
  for (size_t i = 0; i < n; i++) {
    // Matched: jump to the TRACE return after the remaining comparisons and the ALLOW.
    uint8_t toTrace = static_cast<uint8_t>(n - i);
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nrs[i], toTrace, 0));
  }
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE));
  return f;
}

uint32_t HostAuditArch() {
#if defined(__x86_64__)
  return AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  return AUDIT_ARCH_AARCH64;
#else
  return 0;
#endif
}

}  // namespace

// new HelperProcess({file, argv, env, fds: [in, out, err], trace: 0|1|2,
// capture?: Uint8Array, lesson?: number[]}, onEvent(kind, ...)).
// Creates the control socketpair, starts the tracer thread, which forks and
// execs; returns once the fork happened. onEvent('syscalls', Float64Array,
// Buffer), onEvent('exit', {status|signal, execErrno?}), onEvent('done').
class HelperProcess : public Napi::ObjectWrap<HelperProcess> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "HelperProcess",
                       {InstanceAccessor<&HelperProcess::Pid>("pid"), InstanceAccessor<&HelperProcess::ControlFd>("controlFd"),
                        InstanceMethod<&HelperProcess::SetStage>("setStage"),
                        InstanceMethod<&HelperProcess::SetStageOnExec>("setStageOnExec")});
  }

  explicit HelperProcess(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HelperProcess>(info) {
    Napi::Env env = info.Env();
    auto o = info[0].As<Napi::Object>();
    auto cb = info[1].As<Napi::Function>();
    auto s = std::make_shared<State>();
    s->file = o.Get("file").As<Napi::String>();
    auto argv = o.Get("argv").As<Napi::Array>();
    for (uint32_t i = 0; i < argv.Length(); i++) s->argv.push_back(argv.Get(i).As<Napi::String>());
    auto envv = o.Get("env").As<Napi::Array>();
    for (uint32_t i = 0; i < envv.Length(); i++) s->env.push_back(envv.Get(i).As<Napi::String>());
    auto fds = o.Get("fds").As<Napi::Array>();
    for (uint32_t i = 0; i < 3; i++) s->fds[i] = fds.Get(i).As<Napi::Number>().Int32Value();
    s->mode = static_cast<TraceMode>(o.Get("trace").As<Napi::Number>().Int32Value());
    if (o.Has("capture") && o.Get("capture").IsTypedArray()) {
      auto c = o.Get("capture").As<Napi::Uint8Array>();
      s->capture.assign(c.Data(), c.Data() + c.ElementLength());
    }
    if (o.Has("execNrs") && o.Get("execNrs").IsArray()) {
      auto l = o.Get("execNrs").As<Napi::Array>();
      for (uint32_t i = 0; i < l.Length(); i++) s->execNrs.push_back(l.Get(i).As<Napi::Number>().Int64Value());
    }
    if (o.Has("lesson") && o.Get("lesson").IsArray()) {
      auto l = o.Get("lesson").As<Napi::Array>();
      for (uint32_t i = 0; i < l.Length(); i++) s->lesson.push_back(l.Get(i).As<Napi::Number>().Uint32Value());
    }
    s->auditArch = HostAuditArch();

    // The control socket, fd 3 in the helper; none for a plain program (control: false).
    int sp[2] = {-1, -1};
    bool control = !o.Has("control") || o.Get("control").ToBoolean();
    if (control && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) throw SystemError(env, errno, "socketpair");
    s->fds[3] = sp[1];
    controlFd_ = sp[0];

    s->tsfn = Napi::ThreadSafeFunction::New(env, cb, "glassbox-tracer", 16, 1);

    // Everything the child needs is made before the fork: after it, only
    // async-signal-safe calls.
    auto argvp = std::make_shared<std::vector<char*>>();
    for (auto& a : s->argv) argvp->push_back(const_cast<char*>(a.c_str()));
    argvp->push_back(nullptr);
    auto envp = std::make_shared<std::vector<char*>>();
    for (auto& e : s->env) envp->push_back(const_cast<char*>(e.c_str()));
    envp->push_back(nullptr);
    auto filter = std::make_shared<std::vector<sock_filter>>();
    auto prog = std::make_shared<sock_fprog>();
    if (s->mode == kLesson) {
      *filter = LessonFilter(s->auditArch, s->lesson);
      prog->len = static_cast<unsigned short>(filter->size());
      prog->filter = filter->data();
    }
    std::thread([s, argvp, envp, filter, prog]() {
      Tracer t(s);
      t.Run(argvp->data(), envp->data(), s->mode == kLesson ? prog.get() : nullptr);
    }).detach();

    std::unique_lock<std::mutex> lock(s->mu);
    s->cv.wait(lock, [&] { return s->forked; });
    if (sp[1] >= 0) close(sp[1]);
    if (s->pid < 0) {
      if (sp[0] >= 0) close(sp[0]);
      throw SystemError(env, s->forkErrno, "fork");
    }
    pid_ = s->pid;
    state_ = s;
  }

 private:
  std::shared_ptr<State> state_;
  pid_t pid_ = -1;
  int controlFd_ = -1;

  Napi::Value Pid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pid_); }
  Napi::Value ControlFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), controlFd_); }
  // The stage now running: every syscall entered from now on is tagged with it.
  Napi::Value SetStage(const Napi::CallbackInfo& info) {
    state_->stage.store(info[0].As<Napi::Number>().Int32Value(), std::memory_order_relaxed);
    return info.Env().Undefined();
  }
  // The stage that begins at the next successful execve (of execNrs), exact to the syscall.
  Napi::Value SetStageOnExec(const Napi::CallbackInfo& info) {
    state_->stageOnExec.store(info[0].As<Napi::Number>().Int32Value(), std::memory_order_relaxed);
    return info.Env().Undefined();
  }
};

// pipe() -> [read, write], both close-on-exec: for the container's output when glassbox carries it.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw SystemError(info.Env(), errno, "pipe2");
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, p[0]);
  a.Set(1u, p[1]);
  return a;
}

void InitTracer(Napi::Env env, Napi::Object exports) {
  exports.Set("HelperProcess", HelperProcess::Define(env));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
}

}  // namespace glassbox
