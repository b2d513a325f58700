// virt2rbd: parse, dispatch, map the outcome to an exit code. Nothing else.
#include <csignal>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "base/abandon.h"

#include "cli/commands.h"

namespace {
std::atomic<bool> g_cancel{false};
extern "C" void OnSignal(int) { g_cancel.store(true); }
}  // namespace

int main(int argc, char** argv) {
  v2r::Abandonment abandonment;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  int code = v2r::RunCli(argc, argv, &g_cancel, &abandonment);
  if (abandonment.marked()) {
    // librbd still owns abandoned writes: end without running destructors
    // (they would wait for those writes for ever). The journal is current.
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(code);
  }
  return code;
}
