// virt2rbd copy SOURCE POOL/IMAGE
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "base/units.h"
#include "cli/commands.h"
#include "transfer/copy_to_rbd.h"

namespace v2r {

namespace {

struct CopyArgs {
  std::string source;
  std::string target;
  std::string verify = "full";
  CephOptions ceph;
  std::string chunk_size;
  std::string in_flight_bytes = "64M";
  size_t in_flight = 16;
  std::string zero_block = "64K";
  int readers = 2;
  uint64_t bandwidth = 0;
  double stall_warn_s = 30;
  double stall_timeout_s = 900;
};

Status Run(const CopyArgs& a, const CommandEnv& env, nlohmann::json* json_out) {
  CopyRequest req;
  V2R_RETURN_IF_ERROR(FillDiskImageRequest(a.source, a.target, a.ceph, env, &req));
  req.verify = a.verify == "full";
  if (!a.chunk_size.empty()) {
    auto cs = ParseSize(a.chunk_size);
    if (!cs.ok()) return cs.status().Wrap("--chunk-size");
    req.copy.chunk_size = *cs;
  }
  auto ifb = ParseSize(a.in_flight_bytes);
  if (!ifb.ok()) return ifb.status().Wrap("--in-flight-bytes");
  auto zb = ParseSize(a.zero_block);
  if (!zb.ok()) return zb.status().Wrap("--zero-block");
  req.copy.max_bytes = *ifb;
  req.copy.max_requests = a.in_flight;
  req.copy.zero_granularity = *zb;
  req.copy.readers = a.readers;
  req.copy.stall_warn_s = a.stall_warn_s;
  req.copy.stall_timeout_s = a.stall_timeout_s;
  req.bandwidth = a.bandwidth;

  Result<CopyReport> r = CopyToRbd(req, env.observer, MakeRunContext(env).open_cluster);
  if (!r.ok()) return r.status();
  const CopyReport& rep = *r;
  double rate = rep.seconds > 0 ? static_cast<double>(rep.size) / rep.seconds : 0;
  // Always: the event stream's report has it too.
  *json_out = {{"source", rep.source},
                 {"image", rep.image},
                 {"size", rep.size},
                 {"bytes_copied", rep.bytes_copied},
                 {"bytes_zero", rep.bytes_zero},
                 {"seconds", rep.seconds},
                 {"rate_bytes_per_s", rate},
                 {"digest", rep.digest},
                 {"verified", rep.verified},
                 {"verify_seconds", rep.verify_seconds}};
  if (!env.output->json()) {
    std::printf("copied %s to %s: %s (%llu bytes), %s data written, %s skipped as zero, %.1f s, %s/s\n",
                rep.source.c_str(), rep.image.c_str(), FormatBytes(rep.size).c_str(),
                static_cast<unsigned long long>(rep.size), FormatBytes(rep.bytes_copied).c_str(),
                FormatBytes(rep.bytes_zero).c_str(), rep.seconds, FormatBytes(static_cast<uint64_t>(rate)).c_str());
    if (rep.verified)
      std::printf("verified: image read back matches the source (read while copying, %.1f s more after the "
                  "copy), digest %s\n",
                  rep.verify_seconds, rep.digest.c_str());
    else
      std::printf("not verified (--verify none), digest of the source %s\n", rep.digest.c_str());
  }
  return Status::Ok();
}

}  // namespace

CommandRunner SetupCopyCommand(CLI::App* sub, const CommandEnv& env) {
  auto a = std::make_shared<CopyArgs>();
  sub->add_option("SOURCE", a->source, "block device or raw image file (read only, never written)")->required();
  sub->add_option("POOL/IMAGE", a->target, "the RBD image to create; it must not exist")->required();
  sub->add_option("--verify", a->verify, "read the image back and compare every block (default full)")
      ->check(CLI::IsMember({"full", "none"}));
  AddCephOptions(sub, &a->ceph);
  sub->add_option("--chunk-size", a->chunk_size,
                  "bytes read and written per request; a multiple of 4M and of the object size (default: object size)");
  sub->add_option("--in-flight", a->in_flight, "requests in flight at most (default 16)")->check(CLI::Range(1, 1024));
  sub->add_option("--in-flight-bytes", a->in_flight_bytes, "bytes in flight at most (default 64M)");
  sub->add_option("--zero-block", a->zero_block, "granularity of zero detection (default 64K)");
  sub->add_option("--readers", a->readers, "threads reading the source (default 2)")->check(CLI::Range(1, 64));
  sub->add_option_function<double>(
         "--bandwidth", [a](double mib) { a->bandwidth = static_cast<uint64_t>(mib * 1048576); },
         "limit copying to this many MiB/s (default: unlimited)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--stall-warn", a->stall_warn_s, "warn after this many seconds without a completed write (default 30)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--stall-timeout", a->stall_timeout_s,
                  "stop (exit 75) after this many seconds without a completed write; 0: never (default 900)")
      ->check(CLI::NonNegativeNumber);
  return [a, env](nlohmann::json* out) { return Run(*a, env, out); };
}

}  // namespace v2r
