#pragma once
#include <napi.h>

namespace glassbox {
// File-system calls Node's fs module lacks and image unpacking needs.
void InitFsOps(Napi::Env env, Napi::Object exports);
}
