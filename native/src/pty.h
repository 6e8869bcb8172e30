#pragma once
#include <napi.h>

namespace glassbox {
// openpty and window size: what `run -it` needs that Node lacks.
void InitPty(Napi::Env env, Napi::Object exports);
}
