// A pseudo-terminal for `glassbox run -it`: the slave becomes the container's
// stdin, stdout and stderr (and its controlling terminal, made so by the
// helper); glassbox keeps the master and copies bytes both ways.
#include "pty.h"
#include "errors.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace glassbox {
namespace {

// openpty({rows, cols}) -> {master, slave, path}. Both descriptors are
// close-on-exec here; the slave is handed to the helper as its stdio, which
// dup2 clears.
Napi::Value OpenPty(const Napi::CallbackInfo& info) {
  struct winsize ws {};
  if (info.Length() > 0 && info[0].IsObject()) {
    auto o = info[0].As<Napi::Object>();
    if (o.Has("rows")) ws.ws_row = o.Get("rows").As<Napi::Number>().Uint32Value();
    if (o.Has("cols")) ws.ws_col = o.Get("cols").As<Napi::Number>().Uint32Value();
  }
  int master = -1, slave = -1;
  char name[256] = {0};
  if (::openpty(&master, &slave, name, nullptr, ws.ws_row ? &ws : nullptr) != 0) throw SystemError(info.Env(), errno, "openpty");
  fcntl(master, F_SETFD, FD_CLOEXEC);
  fcntl(slave, F_SETFD, FD_CLOEXEC);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("master", master);
  out.Set("slave", slave);
  out.Set("path", name);
  return out;
}

// setWinsize(fd, rows, cols): the terminal was resized; the kernel tells the
// container's foreground process group with SIGWINCH.
Napi::Value SetWinsize(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct winsize ws {};
  ws.ws_row = info[1].As<Napi::Number>().Uint32Value();
  ws.ws_col = info[2].As<Napi::Number>().Uint32Value();
  if (ioctl(fd, TIOCSWINSZ, &ws) != 0) throw SystemError(info.Env(), errno, "ioctl(TIOCSWINSZ)");
  return info.Env().Undefined();
}

// reclaimTerminal(fd): make glassbox's process group the terminal's
// foreground again. A shell run from the TUI takes the terminal for its own
// job control and does not give it back when it exits; glassbox would then be
// a background job of its own terminal and read nothing. SIGTTOU is held off
// for the call, as a shell does (tcsetpgrp(3)).
Napi::Value ReclaimTerminal(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  sigset_t ttou, old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  pthread_sigmask(SIG_BLOCK, &ttou, &old);
  int rc = tcsetpgrp(fd, getpgrp());
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) throw SystemError(info.Env(), err, "tcsetpgrp");
  return info.Env().Undefined();
}

}  // namespace

void InitPty(Napi::Env env, Napi::Object exports) {
  exports.Set("reclaimTerminal", Napi::Function::New(env, ReclaimTerminal, "reclaimTerminal"));
  exports.Set("openpty", Napi::Function::New(env, OpenPty, "openpty"));
  exports.Set("setWinsize", Napi::Function::New(env, SetWinsize, "setWinsize"));
}

}  // namespace glassbox
