// One shape for every error the addon throws, matching Node's own system
// errors (code, errno, syscall, path) so TypeScript handles both alike.
#pragma once
#include <napi.h>
#include <cerrno>
#include <cstring>
#include <string>

namespace glassbox {

inline const char* ErrnoName(int err) {
  // strerrorname_np exists from glibc 2.32; Debian bookworm has 2.36.
  const char* name = strerrorname_np(err);
  return name ? name : "EUNKNOWN";
}

inline Napi::Error SystemError(Napi::Env env, int err, const char* syscall,
                               const std::string& path = std::string()) {
  std::string msg = std::string(syscall);
  if (!path.empty()) msg += " '" + path + "'";
  msg += ": ";
  msg += std::strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) e.Set("path", Napi::String::New(env, path));
  return e;
}

}  // namespace glassbox
