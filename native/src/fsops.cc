// mknod, extended attributes and flock: what an OCI layer needs (device nodes,
// FIFOs, overlay whiteouts, trusted.overlay.opaque, security.capability) and
// what a shared store needs (locks that die with their process).
#include "fsops.h"
#include "errors.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace glassbox {
namespace {

std::string PathArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a path string");
  return info[i].As<Napi::String>().Utf8Value();
}

uint32_t UintArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number");
  return info[i].As<Napi::Number>().Uint32Value();
}

// mknod(path, mode, major, minor): mode carries the file type (S_IFCHR, S_IFBLK, S_IFIFO).
Napi::Value Mknod(const Napi::CallbackInfo& info) {
  std::string path = PathArg(info, 0);
  mode_t mode = UintArg(info, 1);
  dev_t dev = makedev(UintArg(info, 2), UintArg(info, 3));
  if (::mknod(path.c_str(), mode, dev) != 0) throw SystemError(info.Env(), errno, "mknod", path);
  return info.Env().Undefined();
}

// lsetxattr(path, name, value: Buffer): never follows a final symlink.
Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  std::string path = PathArg(info, 0);
  std::string name = PathArg(info, 1);
  if (info.Length() < 3 || !info[2].IsBuffer())
    throw Napi::TypeError::New(info.Env(), "argument 2 must be a Buffer");
  auto value = info[2].As<Napi::Buffer<char>>();
  if (::lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), 0) != 0)
    throw SystemError(info.Env(), errno, "lsetxattr", path);
  return info.Env().Undefined();
}

// lgetxattr(path, name) -> Buffer, or null when the attribute is absent.
Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  std::string path = PathArg(info, 0);
  std::string name = PathArg(info, 1);
  for (;;) {
    ssize_t size = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) {
      if (errno == ENODATA) return info.Env().Null();
      throw SystemError(info.Env(), errno, "lgetxattr", path);
    }
    std::vector<char> buf(size > 0 ? size : 1);
    ssize_t got = ::lgetxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
    if (got < 0) {
      if (errno == ERANGE) continue;  // grew between the two calls
      if (errno == ENODATA) return info.Env().Null();
      throw SystemError(info.Env(), errno, "lgetxattr", path);
    }
    return Napi::Buffer<char>::Copy(info.Env(), buf.data(), got);
  }
}

// llistxattr(path) -> string[]
Napi::Value Llistxattr(const Napi::CallbackInfo& info) {
  std::string path = PathArg(info, 0);
  for (;;) {
    ssize_t size = ::llistxattr(path.c_str(), nullptr, 0);
    if (size < 0) {
      if (errno == ENOTSUP) return Napi::Array::New(info.Env());
      throw SystemError(info.Env(), errno, "llistxattr", path);
    }
    std::vector<char> buf(size > 0 ? size : 1);
    ssize_t got = ::llistxattr(path.c_str(), buf.data(), buf.size());
    if (got < 0) {
      if (errno == ERANGE) continue;
      throw SystemError(info.Env(), errno, "llistxattr", path);
    }
    Napi::Array out = Napi::Array::New(info.Env());
    uint32_t n = 0;
    for (ssize_t i = 0; i < got;) {
      std::string name(buf.data() + i);
      i += name.size() + 1;
      if (!name.empty()) out.Set(n++, name);
    }
    return out;
  }
}

// flock(fd, exclusive) -> Promise<void>. Blocks on a worker thread, never on
// the event loop; the kernel drops the lock when the holder dies, even by SIGKILL.
class FlockWorker : public Napi::AsyncWorker {
 public:
  FlockWorker(Napi::Env env, int fd, int op)
      : Napi::AsyncWorker(env), fd_(fd), op_(op), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    int rc;
    do rc = ::flock(fd_, op_); while (rc != 0 && errno == EINTR);
    err_ = rc == 0 ? 0 : errno;
  }
  void OnOK() override {
    if (err_) deferred_.Reject(SystemError(Env(), err_, "flock").Value());
    else deferred_.Resolve(Env().Undefined());
  }

 private:
  int fd_, op_, err_ = 0;
  Napi::Promise::Deferred deferred_;
};

Napi::Value Flock(const Napi::CallbackInfo& info) {
  int fd = static_cast<int>(UintArg(info, 0));
  bool exclusive = info.Length() > 1 && info[1].ToBoolean();
  auto* w = new FlockWorker(info.Env(), fd, exclusive ? LOCK_EX : LOCK_SH);
  auto promise = w->Promise();
  w->Queue();
  return promise;
}

// tryFlock(fd, exclusive) -> boolean, without waiting.
Napi::Value TryFlock(const Napi::CallbackInfo& info) {
  int fd = static_cast<int>(UintArg(info, 0));
  bool exclusive = info.Length() > 1 && info[1].ToBoolean();
  if (::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
  throw SystemError(info.Env(), errno, "flock");
}

}  // namespace

void InitFsOps(Napi::Env env, Napi::Object exports) {
  exports.Set("mknod", Napi::Function::New(env, Mknod, "mknod"));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr, "lsetxattr"));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr, "lgetxattr"));
  exports.Set("llistxattr", Napi::Function::New(env, Llistxattr, "llistxattr"));
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
  exports.Set("tryFlock", Napi::Function::New(env, TryFlock, "tryFlock"));
}

}  // namespace glassbox
