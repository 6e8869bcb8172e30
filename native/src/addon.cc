// The glassbox native addon. Each kernel area registers itself from its own file.
#include <napi.h>
#include "fsops.h"
#include "pty.h"
#include "tracer.h"

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  glassbox::InitFsOps(env, exports);
  glassbox::InitPty(env, exports);
  glassbox::InitTracer(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(glassbox, Init)
