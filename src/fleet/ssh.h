// The fleet's transport: the system's OpenSSH client, agentless, the way
// cephadm drives its hosts. One multiplexed connection per host (a control
// master in a private directory of the coordinator, 0700), BatchMode (never a
// prompt), a connect timeout. Commands run on the host through its login
// shell, every word quoted; what they need secretly (a keyring) goes on their
// stdin, never into the command line.
//
// Threads: one SshHost per host; Run may be called from several threads at
// once (each call is a session of the shared connection).
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "base/status.h"

namespace v2r::fleet {

struct SshTarget {
  std::string destination;  // [user@]address
  int port = 22;
  std::string identity;     // -i FILE; empty: ssh's default
};

struct SshSettings {
  std::string command = "ssh";  // the client (a wrapper script is fine)
  int connect_timeout_s = 10;
  std::string control_dir;      // where the control sockets go (0700); empty: no multiplexing
};

struct RemoteResult {
  int exit_code = 0;  // the remote command's; 255: ssh itself failed
  std::string out, err;
};

// Quotes a word for a POSIX shell ('...' with embedded quotes escaped).
std::string ShellQuote(const std::string& word);

class SshHost {
 public:
  SshHost(SshTarget target, SshSettings settings);
  ~SshHost();  // closes the control master
  SshHost(const SshHost&) = delete;
  SshHost& operator=(const SshHost&) = delete;

  // Runs `argv` on the host with `input` on its stdin; waits up to `timeout`
  // (then kills ssh: Status::Interrupted). A failure to start ssh is
  // Status::Refused; the remote command's own failure is a RemoteResult.
  Result<RemoteResult> Run(const std::vector<std::string>& argv, const std::string& input,
                           std::chrono::seconds timeout);

  // The ssh argv for `remote_command` (for messages and tests).
  std::vector<std::string> SshArgv(const std::string& remote_command) const;

 private:
  SshTarget target_;
  SshSettings settings_;
  std::atomic<bool> used_{false};
};

// Runs a local program with `input` on stdin, collecting stdout and stderr,
// killing it after `timeout`. The building block of SshHost::Run.
Result<RemoteResult> RunProgram(const std::vector<std::string>& argv, const std::string& input,
                                std::chrono::seconds timeout);

}  // namespace v2r::fleet
