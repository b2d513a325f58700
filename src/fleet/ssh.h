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

#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
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
  int keepalive_s = 15;         // ServerAliveInterval; the connection is lost after 3 unanswered
};

struct RemoteResult {
  int exit_code = 0;  // the remote command's; 255: ssh itself failed
  std::string out, err;
};

// Quotes a word for a POSIX shell ('...' with embedded quotes escaped).
std::string ShellQuote(const std::string& word);

// A program running with pipes: its stdin stays open for what the
// coordinator sends it later (control lines), its stdout is read as lines as
// they come (the event stream). One thread polls; Send may be called from
// another. The destructor ends the program (SIGTERM) and reaps it.
class Session {
 public:
  // Starts `argv` and writes `input` on its stdin (which stays open).
  static Result<std::unique_ptr<Session>> Start(const std::vector<std::string>& argv, const std::string& input);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Writes to its stdin; false once the program no longer reads it.
  bool Send(const std::string& text);
  void CloseInput() { std::lock_guard<std::mutex> l(send_mu_); if (in_ >= 0) ::close(in_); in_ = -1; }
  // Waits up to `timeout` for output; the whole stdout lines that arrived.
  std::vector<std::string> Poll(std::chrono::milliseconds timeout);
  bool ended() const { return out_ < 0 && err_ < 0; }  // both outputs closed
  int Wait();   // reaps it: its exit code (255: ssh itself failed)
  void Kill();  // SIGTERM, then reaps it
  const std::string& err() const { return err_text_; }

 private:
  Session() = default;
  int in_ = -1, out_ = -1, err_ = -1;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::mutex send_mu_;
  std::string partial_, err_text_;
};

// A private 0700 directory for the ssh control sockets (under $TMPDIR, else
// /tmp), removed at the end; empty path() when it could not be made.
class ControlDir {
 public:
  ControlDir();
  ~ControlDir();
  ControlDir(const ControlDir&) = delete;
  ControlDir& operator=(const ControlDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

  // Starts `argv` on the host as a Session (stdin kept open after `input`).
  Result<std::unique_ptr<Session>> Open(const std::vector<std::string>& argv, const std::string& input);
  // The same for a shell command line of the host's login shell (already quoted).
  Result<std::unique_ptr<Session>> OpenShell(const std::string& command, const std::string& input);

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
