// The helper protocol's constants, shared in spirit with src/runtime/helper/protocol.ts.
#pragma once

namespace glassbox {
// Bump when a command's arguments or replies change meaning.
constexpr int kProtocolVersion = 6;
// docker's codes: 127 command not found, 126 found but cannot be run.
constexpr int kExitNotFound = 127;
constexpr int kExitCannotExec = 126;
// The control socket broke: Node is gone or spoke nonsense.
constexpr int kExitProtocol = 125;
// Sent to the helper after fork_init: it kills init with SIGKILL (which it
// could not forward as itself: SIGKILL cannot be caught).
constexpr int kSignalKillInit = 12;  // SIGUSR2
}  // namespace glassbox
