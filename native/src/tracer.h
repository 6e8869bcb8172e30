#pragma once
#include <napi.h>

namespace glassbox {
void InitTracer(Napi::Env env, Napi::Object exports);
}
